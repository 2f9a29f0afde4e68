"""The README's and docs' (restore, lifecycle, purge, security) examples work when pasted, on the demo: each
`archival ...` line of their sh blocks runs with exit 0 in a demo project (lines that need a
database DSN in the environment are left to the restore tests)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime

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
            *_examples(ROOT / "docs" / "restore.md", "## Restore"),
            *_examples(ROOT / "docs" / "lifecycle.md", "## archival lifecycle"),
            *_examples(ROOT / "docs" / "lifecycle.md", "## Legal holds"),
            *_examples(ROOT / "docs" / "lifecycle.md", "## What it costs"),
            *_examples(ROOT / "docs" / "purge.md", "## Trying it on the demo"),
            *_examples(ROOT / "docs" / "security.md", "## Least privilege"),
            *_examples(ROOT / "docs" / "security.md", "## The audit trail")]


def test_the_examples_run_in_order_on_the_demo(tmp_path, small_demo_db, monkeypatch, capsys):
    """In order, as a reader pastes them (one test: a later example may read what an earlier one wrote)."""
    assert len(EXAMPLES) >= 16 and all(e.startswith(("archival ", ".venv/bin/python ")) for e in EXAMPLES), EXAMPLES
    shutil.copy(ROOT / "archival.yaml", tmp_path / "archival.yaml")
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "helpdesk.db")
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    run_units(tmp_path, datetime(2026, 11, 26, 10, tzinfo=UTC))
    monkeypatch.chdir(tmp_path)
    for line in EXAMPLES:
        words = shlex.split(line, comments=True)
        if words[0] == ".venv/bin/python":
            done = subprocess.run([sys.executable, *words[1:]], capture_output=True, text=True, cwd=tmp_path)
            assert done.returncode == 0, f"{line}\n{done.stderr}"
        else:
            out = words.index(">") if ">" in words else None
            capsys.readouterr()
            assert cli.main(words[1:out]) == 0, f"{line}\n{capsys.readouterr().err}"
            if out is not None:
                (tmp_path / words[out + 1]).write_text(capsys.readouterr().out)
