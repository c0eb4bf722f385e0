"""The README's Python API example runs as written, in one fresh process, and the API names stay callable."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import latentlab

README = Path(__file__).resolve().parents[1] / "README.md"
SRC = Path(latentlab.__file__).resolve().parents[1]


def python_api_example() -> str:
    """The first ```python block after the line "## Python API" of README.md."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Python API")
    begin = lines.index("```python", start) + 1
    return "\n".join(lines[begin:lines.index("```", begin)]) + "\n"


def test_readme_python_api_example_runs_in_a_fresh_process(tmp_path):
    code = python_api_example()
    assert "latentlab.report(" in code  # the call a shadowing subpackage broke once a run was evaluated
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(tmp_path.glob("runs/*/report.html")) and list(tmp_path.glob("runs/*/samples/*.png"))


def test_no_subpackage_shadows_an_api_function():
    """Importing latentlab.X sets attribute X on the package: a submodule named like an API function
    would replace that function for the rest of the process."""
    modules = {m.name for m in pkgutil.iter_modules(latentlab.__path__)}
    assert not modules & set(latentlab.__all__), modules & set(latentlab.__all__)
    for name in latentlab.API:
        assert callable(getattr(latentlab, name))
