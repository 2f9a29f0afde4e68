"""The scripts docs/archive.md gives auditors, run as pasted: each recomputes a manifest's row
fingerprint from the files it names, without archival."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def auditor_script(tmp_path: Path, algorithm: str) -> Path:
    """The script under docs/archive.md's heading for `algorithm`, written to a file."""
    text = (ROOT / "docs" / "archive.md").read_text().split(f"### Fingerprint `{algorithm}`", 1)[1]
    script = tmp_path / f"recompute-{algorithm}.py"
    script.write_text(re.search(r"```python\n(.*?)```", text, flags=re.S).group(1))
    assert "archival" not in script.read_text().replace("without archival", "")
    return script


def recompute(script: Path, archive: Path, manifest: str) -> str:
    """The script's output line: the value it computed, then `ok` or `MISMATCH`."""
    done = subprocess.run([sys.executable, str(script), str(archive), manifest], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def recompute_archive(script: Path, archive: Path, algorithm: str) -> int:
    """Runs the script on every manifest of `archive` whose fingerprint is `algorithm`, asserts each
    comes out `ok`, and returns how many there were."""
    manifests = [p for p in archive.rglob("_manifests/*/v*.json")
                 if json.loads(p.read_bytes())["fingerprint"]["algorithm"] == algorithm]
    for path in manifests:
        assert recompute(script, archive, path.relative_to(archive).as_posix()).endswith(" ok"), path
    return len(manifests)
