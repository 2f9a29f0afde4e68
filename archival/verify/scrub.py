"""`archival scrub [--subset n/t] [--deep]`: rotating checks of the archive's files, as restic's
`check --read-data-subset n/t` does it: a file belongs to subset n of t by a hash of its path, so t
runs with n = 1..t read every file exactly once and a scheduled scrub spreads the reading over them.
Each selected file (named by any manifest version of a period not expired) must exist with its size
and sha256; `--deep` also reads each Parquet file's row count against its manifest entry.
Repairing what it finds is `run/scrub_repair.py`'s."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from archival.archive.manifest import ManifestError, read_manifest
from archival.archive.state import manifest_versions
from archival.archive.store import ArchiveStore
from archival.spec.model import Table
from archival.verify.check import Finding, VerifyReport
from archival.verify.manifests import check_file


class SubsetUsage(ValueError):
    """--subset is not n/t with 1 <= n <= t (bad usage: exit 2)."""


def parse_subset(text: str | None) -> tuple[int, int]:
    if text is None:
        return 1, 1
    try:
        n, t = (int(x) for x in text.split("/"))
    except ValueError:
        raise SubsetUsage(f"--subset {text}: write n/t, e.g. 2/7 (the second of seven parts)") from None
    if not 1 <= n <= t:
        raise SubsetUsage(f"--subset {text}: n must be between 1 and t")
    return n, t


def in_subset(path: str, n: int, t: int) -> bool:
    return int(hashlib.sha256(path.encode()).hexdigest()[:12], 16) % t == n - 1


@dataclass(frozen=True)
class ScrubbedFile:
    path: str
    sha256: str
    bytes: int
    rows: int
    table: str  # domain.table
    period: str
    manifest: str  # the newest manifest version that names it
    current: bool  # named by the period's current version


@dataclass
class ScrubReport:
    subset: tuple[int, int]
    files: list[ScrubbedFile] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    bytes: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    def damaged(self) -> dict[str, list[Finding]]:
        """path -> its findings."""
        found: dict[str, list[Finding]] = {}
        for finding in self.findings:
            found.setdefault(finding.path, []).append(finding)
        return found


def archive_files(store: ArchiveStore, tables: list[Table],
                  unreadable: list[Finding] | None = None) -> list[ScrubbedFile]:
    """Every file some manifest version of the tables names (periods that expired left out), once.
    A manifest that cannot be read goes to `unreadable` (its period's files cannot be listed)."""
    found: dict[str, ScrubbedFile] = {}
    for table in tables:
        for period, versions in manifest_versions(store, table.domain, table.name).items():
            newest = max(versions)
            try:
                manifests = {v: read_manifest(store, versions[v]).manifest for v in sorted(versions)}
            except ManifestError as exc:
                if unreadable is not None:
                    unreadable.append(Finding("manifest", f"{table.qualified_name}/{period}",
                                              f"a manifest version cannot be read ({exc}): its files were not "
                                              "checked; `archival verify` names it"))
                continue
            if manifests[newest].expiry is not None:
                continue
            for version, manifest in manifests.items():
                for entry in [*manifest.files, *manifest.tombstones, *manifest.quarantine]:
                    # versions ascend: the newest version that names a file is the one kept
                    found[entry.path] = ScrubbedFile(entry.path, entry.sha256, entry.bytes, entry.rows,
                                                     table.qualified_name, period, versions[version],
                                                     version == newest)
    return sorted(found.values(), key=lambda f: f.path)


def scrub(store: ArchiveStore, tables: list[Table], subset: tuple[int, int], deep: bool = False) -> ScrubReport:
    report = ScrubReport(subset)
    for file in archive_files(store, tables, report.findings):  # an unreadable manifest fails every part
        if not in_subset(file.path, *subset):
            continue
        report.files.append(file)
        checked = VerifyReport()
        check_file(store, {"path": file.path, "bytes": file.bytes, "sha256": file.sha256}, checked)
        report.bytes += checked.bytes
        report.findings += checked.findings
        if deep and not checked.findings and file.path.endswith(".parquet") and file.path not in checked.frozen:
            with store.local_copy(file.path) as local:
                rows = store.keys.open(local, shown=file.path).metadata.num_rows
            if rows != file.rows:
                report.findings.append(Finding("rows", file.path, f"{rows} rows, its manifest says {file.rows}"))
    return report
