"""`StudyResult`: a finished study's folder, as `latentlab.study` returns it.

    result = latentlab.study("vae-2d", budget="quick")
    result                        # as a cell's last expression: the study's card (title, checks, figures)
    result.summary["checks"]      # summary.json
    latentlab.show(result)        # the whole report inline

Like a `Run`, it stands wherever its folder's path did (`result / "x"`, `str(result)`, `Path(result)`).
"""

from __future__ import annotations

from pathlib import Path

from latentlab.checks import Check
from latentlab.errors import UserError
from latentlab.files import FolderHandle, read_json


class StudyResult(FolderHandle):
    """A study folder holding summary.json and report.html; it stands in for the folder's path (files.FolderHandle)."""

    @property
    def report_path(self) -> Path:
        return self.path / "report.html"

    @property
    def summary(self) -> dict:
        """summary.json: the study's numbers, its budget, checks and time."""
        path = self.path / "summary.json"
        if not path.exists():
            raise UserError(f"{self.path} holds no finished study (no summary.json): run it with latentlab study")
        return read_json(path, todo="run the study again")

    @property
    def checks(self) -> list[Check]:
        return [Check.from_dict(c) for c in self.summary.get("checks") or []]

    def figure_files(self) -> list[Path]:
        """The study's PNG figures: those of its folder, else of its figures/ folder."""
        return sorted(self.path.glob("*.png")) or sorted((self.path / "figures").glob("*.png"))

    def figures(self) -> list[str]:
        """The names of the study's figures (without .png), for `figure(name)`."""
        return [p.stem for p in self.figure_files()]

    def figure(self, name: str):
        """The study's figure `name` as an image a notebook displays."""
        from latentlab.display import figure

        files = {p.stem: p for p in self.figure_files()}
        return figure(files.get(name, self.path / f"{name}.png"))

    def _repr_html_(self) -> str | None:
        from latentlab.reporting.card import study_card

        try:
            return study_card(self.path, self.figure_files())
        except UserError:
            return None  # the plain repr says where it is
