"""latentlab: deep generative models with latent variables, correct to the equation.

The Python API mirrors the CLI: `train`, `evaluate`, `sample`, `report`, `prior`, `study`, `load_model` (see
api.py), over run directories (`Run`, see run/directory.py) and study folders (`StudyResult`, studies/result.py).
In a notebook: `show`, `explorer`, `figure` (see notebook.py); IPython is never imported.
"""

from latentlab._version import __version__

# The API imports torch, so it is imported on first use: `import latentlab` stays light (the CLI's
# `--help` needs no torch). No subpackage may share a name with these: importing a submodule
# sets it as an attribute of this package, which would hide the function of the same name.
API = ("train", "evaluate", "sample", "report", "prior", "study", "load_model")
NOTEBOOK = ("show", "explorer", "figure")
__all__ = [*API, *NOTEBOOK, "Run", "StudyResult", "__version__"]


def __getattr__(name: str):
    if name in API:
        from latentlab import api

        return getattr(api, name)
    if name in NOTEBOOK:
        from latentlab import notebook

        return getattr(notebook, name)
    if name == "Run":
        from latentlab.run import Run

        return Run
    if name == "StudyResult":
        from latentlab.studies.result import StudyResult

        return StudyResult
    raise AttributeError(f"module 'latentlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
