"""The run directory's format, in one package: every file a run holds is named and read here.

    runs/<name>/
      run.json          {"format", "latentlab": version, "x_shape", "data_fingerprint", ...}  (directory.py)
      config.toml       the fully resolved config, headed by one line per resume   (directory.py, resume.py)
      metrics.jsonl     one JSON object per logged step                            (metrics.py)
      tensorboard/      TensorBoard event files (train.log has "tensorboard")
      checkpoints/      step-NNNNNNNN.safetensors + step-NNNNNNNN.json             (checkpoint.py)
      data.safetensors  the arrays handed to latentlab.train(data=...)
      figures/          PNGs drawn by the evaluation
      results.json      the evaluation's numbers
      explorer.json     a latent-decoder model's decoder and codes, for the page's latent-space explorer
      report.html       the run's page
      run.lock          while a process trains or evaluates the run                (lock.py)

    from latentlab.run import Run
    run = Run.open("runs/cs236_vae-20261129-101500")
"""

from latentlab.run.directory import FORMAT, Run, default_dir

__all__ = ["FORMAT", "Run", "default_dir"]
