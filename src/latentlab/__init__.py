"""latentlab: deep generative models with latent variables, correct to the equation.

The Python API mirrors the CLI: `train`, `evaluate`, `sample`, `report` (see api.py).
"""

__version__ = "0.1.0"


def __getattr__(name):  # the API loads torch; keep `import latentlab` light until it is used
    if name in ("train", "evaluate", "sample", "report", "load_model"):
        from latentlab import api

        return getattr(api, name)
    raise AttributeError(name)
