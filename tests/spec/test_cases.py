"""Golden tests: every broken spec under tests/cases/specs/invalid/ must fail with exactly the error
text in its .expected file (file:line:col, caret, hint). Regenerate with UPDATE_GOLDEN=1 and review
the diff. `<case>.yaml` is a domain spec dropped into the base project; `<case>.archival.yaml`
replaces the base project's archival.yaml."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from archival.spec.errors import SpecErrors
from archival.spec.load import load_project
from tests.conftest import CASES

INVALID = CASES / "specs" / "invalid"
BASE = CASES / "specs" / "base"
CANARY = "canary-S3cret"
CASE_FILES = sorted(p for p in INVALID.glob("*.yaml"))


def _project_for(case: Path, tmp_path: Path) -> Path:
    shutil.copytree(BASE, tmp_path / "project")
    project = tmp_path / "project"
    if case.name.endswith(".archival.yaml"):
        shutil.copy(case, project / "archival.yaml")
    else:
        shutil.copy(case, project / "specs" / case.name)
    return project


def test_there_are_enough_cases():
    assert len(CASE_FILES) >= 30


def test_base_project_is_valid(tmp_path):
    shutil.copytree(BASE, tmp_path / "project")
    assert [d.name for d in load_project(tmp_path / "project").domains] == ["sales"]


@pytest.mark.parametrize("case", CASE_FILES, ids=lambda p: p.name.removesuffix(".yaml"))
def test_invalid_spec_matches_golden_error(case: Path, tmp_path: Path):
    project = _project_for(case, tmp_path)
    with pytest.raises(SpecErrors) as caught:
        load_project(project)
    rendered = caught.value.render()
    assert CANARY not in rendered, "a secret from the spec leaked into the error message"
    files = {e.file for e in caught.value.errors}
    assert files <= {"archival.yaml", "specs/sales.yaml", f"specs/{case.name}"}
    if not case.name.endswith(".archival.yaml"):
        assert f"specs/{case.name}" in files, "the broken file itself must be named"
    expected_file = case.with_name(case.name.removesuffix(".yaml") + ".expected")
    if os.environ.get("UPDATE_GOLDEN"):
        expected_file.write_text(rendered + "\n")
    assert expected_file.exists(), f"missing golden file {expected_file.name}; run with UPDATE_GOLDEN=1"
    assert rendered + "\n" == expected_file.read_text()
