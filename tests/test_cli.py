"""Every CLI command end to end on real MNIST with tiny settings, and every user error exits 2 with one line."""

import json

import pytest

from latentlab.cli import main
from latentlab.evaluation.references import REFERENCES

TINY = ["--set", "train.iterations=30", "--set", "train.log_every=10", "--set", "train.checkpoint_every=20",
        "--set", "eval.subset_repeats=2", "--set", "eval.iwae_k=[1, 10]", "--set", "eval.iwae_repeats=[2, 1]",
        "--quiet"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(tmp_path_factory, request):
    from conftest import real_data_root

    root = real_data_root()
    if root is None:
        pytest.skip("MNIST is not on this machine")
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert main(["train", "cs236_vae", "--out", str(run), "--data-dir", str(root),
                 "--set", "model.z_dim=2", *TINY]) == 0
    return run, root


def test_train_writes_a_complete_run_directory(trained):
    run, _ = trained
    for name in ("run.json", "config.toml", "metrics.jsonl", "results.json", "report.html",
                 "checkpoints/step-00000030.safetensors", "checkpoints/step-00000020.json"):
        assert (run / name).exists(), name
    results = json.loads((run / "results.json").read_text())
    assert set(results["sections"]) == {"subset", "full_test"}
    assert set(results["sections"]["subset"]) == {"nelbo", "kl", "rec", "-iwae_1", "-iwae_10"}
    mean, sd = REFERENCES["cs236_vae"].values["nelbo"]  # the protocol's published number travels with the run
    assert results["reference"]["values"]["nelbo"] == [mean, sd]
    figures = {p.name for p in (run / "figures").glob("*.png")}
    assert figures >= {"samples.png", "reconstructions.png", "interpolation.png", "loss_curves.png",
                       "latent_manifold.png", "latent_scatter.png"}  # z = 2 adds the latent plane
    assert "z_dim = 2  # changed; default 10" in (run / "config.toml").read_text()
    html = (run / "report.html").read_text()
    assert f"{mean:g} ± {sd:g}" in html and "data:image/png;base64" in html


def test_eval_recomputes_the_same_results(trained, capsys):
    run, root = trained
    before = json.loads((run / "results.json").read_text())
    code, out, _ = cli(capsys, "eval", run, "--data-dir", root, "--quiet")
    after = json.loads((run / "results.json").read_text())
    assert code == 0 and "subset: nelbo" in out
    assert after["sections"] == before["sections"]  # evaluation is seeded


def test_sample_and_report(trained, capsys, tmp_path):
    run, root = trained
    code, out, _ = cli(capsys, "sample", run, "-n", 30, "--out", tmp_path / "s")  # sampling reads no dataset
    assert code == 0 and (tmp_path / "s" / "samples-seed0.png").exists()
    code, out, _ = cli(capsys, "report", run, run, "--out", tmp_path / "both.html")
    assert code == 0 and (tmp_path / "both.html").exists()


def test_resume_continues_to_more_iterations(trained, capsys, tmp_path):
    run, root = trained
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    code, _, err = cli(capsys, "train", "--resume", copy, "--data-dir", root, "--set", "train.iterations=40",
                       "--no-eval", "--quiet")
    assert code == 0, err
    steps = [json.loads(line)["step"] for line in (copy / "metrics.jsonl").read_text().splitlines()]
    assert steps == [10, 20, 30, 40]


@pytest.mark.parametrize("argv, message", [
    (["train", "cs236_vae", "--set", "train.iteratons=5"], "unknown key 'iteratons' in [train] (did you mean 'iterations'?)"),
    (["train", "cs236_vae", "--set", "train.batch_size=big"], 'train.batch_size = "big" is not accepted: a positive integer (>= 1)'),
    (["train", "no_such_preset"], "no config file or preset named 'no_such_preset'"),
    (["train", "cs236_vae", "--device", "cuda:7"], "no CUDA GPU"),
    (["train"], "train needs a CONFIG"),
    (["eval", "/nonexistent/run"], "run directory /nonexistent/run does not exist"),
    (["train", "--resume", "/nonexistent/run"], "does not exist"),
    (["report", "/nonexistent/run"], "is not a latentlab run directory"),
])
def test_user_errors_exit_2_with_one_line(argv, message, capsys, tmp_path):
    if argv[0] == "train" and "--resume" not in argv:
        argv = [*argv, "--out", tmp_path / "out"]
    code, _, err = cli(capsys, *argv)
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_missing_dataset_exits_2_naming_files_and_folder(capsys, tmp_path):
    code, _, err = cli(capsys, "train", "cs236_vae", "--out", tmp_path / "r", "--data-dir", tmp_path / "empty",
                       "--quiet")
    assert code == 2 and "train-images-idx3-ubyte.gz" in err and str(tmp_path / "empty") in err


def test_a_run_directory_from_an_older_version_is_refused(trained, capsys, tmp_path):
    import shutil

    run, root = trained
    old = tmp_path / "old"
    shutil.copytree(run, old)
    (old / "run.json").write_text(json.dumps({"format": 0, "latentlab": "0.0.1"}))
    code, _, err = cli(capsys, "eval", old, "--data-dir", root)
    assert code == 2 and "format 0" in err and "train it again" in err
    (old / "run.json").unlink()
    code, _, err = cli(capsys, "train", "--resume", old, "--data-dir", root)
    assert code == 2 and "no run.json" in err


def test_an_existing_run_is_never_overwritten(trained, capsys):
    run, root = trained
    before = (run / "config.toml").read_text()
    code, _, err = cli(capsys, "train", "cs236_vae", "--out", run, "--data-dir", root, "--quiet")
    assert code == 2 and "already holds a run" in err
    assert (run / "config.toml").read_text() == before


def test_a_nan_loss_exits_2_and_keeps_the_checkpoint(capsys, tmp_path, data_root):
    run = tmp_path / "nan"
    code, _, err = cli(capsys, "train", "cs236_vae", "--out", run, "--data-dir", data_root, "--quiet",
                       "--set", "train.lr=1e30", "--set", "train.iterations=50", "--set", "train.checkpoint_every=1")
    assert code == 2 and "the loss became nan" in err and err.count("\n") == 1, err
    assert (run / "checkpoints").exists()
    assert not (run / "results.json").exists()
