"""The documentation says only what the repository holds: its `file.py:function` references and
relative links resolve, and no file points outside the repository or at issue numbers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "latentlab"
DOCS = [ROOT / "README.md", ROOT / "bench" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
CODE_REF = re.compile(r"`([\w/]+\.py):([\w.]+)`")  # `objectives/elbo.py:negative_elbo`, `models/gan.py:GAN.after_step`
LINK = re.compile(r"\]\(([^)#\s]*)(?:#([^)\s]*))?\)")  # [text](path#anchor); external addresses are skipped below
# Names of files that live outside the repository, and issue numbers: a reader of the repository has neither.
OUTSIDE = re.compile(r"PROTOCOLS(\.md|\s+[A-E]\b)|DESIGN\.md|STYLE\.md|\bshared[/]|\bissues? #?\d|code-revie[w]")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".json", ".txt", ".html", ".cfg", ".ini", ".sh"}


def _defines(tree: ast.Module, dotted: str) -> bool:
    """Whether the module defines `name` or `Class.member` at top level (functions, classes, assignments)."""
    scope: list[ast.stmt] = tree.body
    for part in dotted.split("."):
        found = None
        for node in scope:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name == part:
                found = node
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", None) == part for t in node.targets):
                found = node
            elif isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == part:
                found = node
        if found is None:
            return False
        scope = getattr(found, "body", [])
    return True


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_code_references_name_existing_functions(doc):
    missing = []
    for path, name in CODE_REF.findall(doc.read_text(encoding="utf-8")):
        file = next((f for f in (PACKAGE / path, ROOT / path) if f.is_file()), None)
        if file is None or not _defines(ast.parse(file.read_text(encoding="utf-8")), name):
            missing.append(f"{path}:{name}")
    assert not missing, f"{doc.name} names code that does not exist (update the reference): {missing}"


def _anchors(markdown: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens."""
    headings = re.findall(r"^#+ (.+)$", markdown.read_text(encoding="utf-8"), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    broken = []
    for target, anchor in LINK.findall(doc.read_text(encoding="utf-8")):
        if "://" in target:
            continue
        path = doc.parent / target if target else doc
        if not path.exists() or (anchor and path.suffix == ".md" and anchor not in _anchors(path)):
            broken.append(f"{target}#{anchor}" if anchor else target)
    assert not broken, f"{doc.name} links to missing files or headings: {broken}"


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    assert "make demo" in first_block and "make test" in first_block, first_block


def test_nothing_points_outside_the_repository_or_at_issue_numbers():
    files = [ROOT / "README.md", *(f for d in ("src", "tests", "bench", "docs") for f in sorted((ROOT / d).rglob("*"))
                                   if f.is_file() and f.suffix in TEXT_SUFFIXES)]
    hits = [f"{f.relative_to(ROOT)}:{i}: {line.strip()[:100]}"
            for f in files for i, line in enumerate(f.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
            if OUTSIDE.search(line)]
    assert not hits, ("these lines refer to files outside the repository or to issue numbers; refer to "
                      "docs/protocols.md (e.g. 'docs/protocols.md, section A') or say it in words:\n" + "\n".join(hits))
