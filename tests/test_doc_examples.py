"""The README's and docs/restore.md's query and restore examples work when pasted, on the demo: each
`archival ...` line of their sh blocks runs with exit 0 in a demo project (lines that need a
database DSN in the environment are left to the restore tests)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from archival import cli
from tests.conftest import ROOT
from tests.run.helpers import run_units


def _examples(path, heading: str) -> list[str]:
    """The command lines of the sh blocks under `heading` (up to the next heading of its level)."""
    text = path.read_text()
    level = heading.split(" ")[0]
    section = text.split(heading + "\n", 1)[1]
    section = re.split(rf"^{level} ", section, maxsplit=1, flags=re.M)[0]
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", section, flags=re.S):
        lines += [line for line in block.splitlines() if line.strip() and "env:" not in line]
    return lines


EXAMPLES = [*_examples(ROOT / "README.md", "## Using it")[-5:], *_examples(ROOT / "docs" / "restore.md", "## Query"),
            *_examples(ROOT / "docs" / "restore.md", "## Restore")]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_demo_db):
    folder = tmp_path_factory.mktemp("doc-examples")
    shutil.copy(ROOT / "archival.yaml", folder / "archival.yaml")
    shutil.copytree(ROOT / "specs", folder / "specs")
    (folder / "data").mkdir()
    shutil.copy(small_demo_db, folder / "data" / "helpdesk.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
        run_units(folder, datetime(2026, 11, 26, 10, tzinfo=UTC))
    return folder


def test_the_examples_are_found():
    assert len(EXAMPLES) >= 10 and all(e.startswith(("archival ", ".venv/bin/python ")) for e in EXAMPLES), EXAMPLES


@pytest.mark.parametrize("line", EXAMPLES)
def test_example(line, demo, monkeypatch, capsys):
    monkeypatch.chdir(demo)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    words = shlex.split(line, comments=True)
    if words[0] == ".venv/bin/python":
        done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, cwd=demo)
        assert done.returncode == 0, done.stderr
        return
    assert cli.main(words[1:]) == 0, capsys.readouterr().err
