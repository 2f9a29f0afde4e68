"""`archival verify [--deep]`. Every manifest version must be a well-formed manifest (its JSON
Schema), chain to the version before it (previous_manifest_sha256) and be recorded, with its sha256,
in the hash-linked audit chain, so an edited or deleted manifest is found; every file a manifest
names must exist with its size and sha256; a file in a table's folders that no manifest names is
reported, temp names and dot-folders included (glob readers would read them). `--deep` re-reads
the data and checks row counts and fingerprints.

A damaged archive is what verify is for: every problem is a finding with its path, never a crash."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from archival.archive.store import ArchiveStore

FindingKind = Literal["missing", "size", "sha256", "extra", "manifest", "audit", "rows", "fingerprint"]
MANIFEST_PATH = re.compile(r"^(?P<d>[^/]+)/(?P<t>[^/]+)/_manifests/period=(?P<p>[^/]+)/v(?P<v>\d{6})\.json$")
TABLE_PATH = re.compile(r"^(?P<d>[a-z][a-z0-9_]*)/(?P<t>[a-z][a-z0-9_]*)/")
QUARANTINE_PATH = re.compile(r"^_quarantine/(?P<d>[^/]+)/(?P<t>[^/]+)/")
# no table data (orphans: set aside, recorded; purges: keys taken out of sources, checked by verify/purges.py)
SYSTEM = ("_runs/", "_lineage/", "_audit/", "_orphans/", "_locks/", "_purges/")
SCRATCH = ".work/"  # running exports' scratch space under a local root: not the archive


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


@dataclass
class VerifyReport:
    manifests: int = 0
    files: int = 0
    bytes: int = 0
    rows_checked: int = 0
    frozen: set[str] = field(default_factory=set)  # files in GLACIER/DEEP_ARCHIVE: sha256 from the object's metadata
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    def add(self, kind: FindingKind, path: str, message: str) -> None:
        self.findings.append(Finding(kind, path, message))


Include = Callable[[str, str], bool]


def verify_archive(store: ArchiveStore, *, deep: bool = False, include: Include | None = None) -> VerifyReport:
    from archival.verify.audit import check_audit
    from archival.verify.manifests import check_manifests
    from archival.verify.purges import check_purges

    report = VerifyReport()
    objects = store.list("", hidden=True)
    chains: dict[tuple[str, str, str], dict[int, str]] = {}
    for path in objects:
        m = MANIFEST_PATH.match(path)
        if m and (include is None or include(m["d"], m["t"])):
            chains.setdefault((m["d"], m["t"], m["p"]), {})[int(m["v"])] = path
    named, manifest_sha = check_manifests(store, chains, report, deep)
    _check_extra(objects, named, include, report)
    check_audit(store, manifest_sha, report)
    check_purges(store, report)
    return report


def _selected(path: str, include: Include | None) -> bool:
    m = TABLE_PATH.match(path) or QUARANTINE_PATH.match(path)
    return include is None or m is None or include(m["d"], m["t"])


def _check_extra(objects: list[str], named: set[str], include: Include | None, report: VerifyReport) -> None:
    """Files in a table's folders (or its quarantine) that no manifest version names. The system
    folders hold no data (the audit chain checks its own entries)."""
    for path in objects:
        if path in named or MANIFEST_PATH.match(path) or path.startswith((SCRATCH, *SYSTEM)) \
                or not _selected(path, include):
            continue
        hidden = any(part.startswith(".") for part in path.split("/"))
        what = "a temp or hidden file" if hidden else "a file"
        report.add("extra", path, f"{what} that no manifest names (glob readers would read it)")
