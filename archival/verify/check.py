"""`archival verify [--deep]`. Every manifest version's files must exist with their size and sha256;
files no manifest names are reported; manifest versions must chain (previous_manifest_sha256) and be
recorded, with their sha256, in the hash-linked audit chain, so an edited or deleted manifest is
found. `--deep` re-reads the data and checks row counts and fingerprints."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Literal

import duckdb

from archival.archive import layout
from archival.archive.audit_log import read_chain
from archival.archive.fingerprint import ALGORITHM, combine, fingerprint_of
from archival.archive.store import ArchiveStore
from archival.record.manifest import sha256_hex

FindingKind = Literal["missing", "size", "sha256", "extra", "manifest", "audit", "rows", "fingerprint"]
_MANIFEST = re.compile(r"^(?P<d>[^/]+)/(?P<t>[^/]+)/_manifests/period=(?P<p>[^/]+)/v(?P<v>\d{6})\.json$")
_DATA = re.compile(r"^(?P<d>[^/]+)/(?P<t>[^/]+)/period=(?P<p>[^/]+)/[^/]+$")
_SYSTEM = ("_runs/", "_lineage/", "_audit/", "_quarantine/")


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
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def verify_archive(store: ArchiveStore, *, deep: bool = False,
                   include: Callable[[str, str], bool] | None = None) -> VerifyReport:
    report = VerifyReport()
    objects = store.list("")
    manifests: dict[tuple[str, str, str], dict[int, str]] = {}
    for path in objects:
        m = _MANIFEST.match(path)
        if m and (include is None or include(m["d"], m["t"])):
            manifests.setdefault((m["d"], m["t"], m["p"]), {})[int(m["v"])] = path
    named: set[str] = set()
    manifest_sha: dict[str, str] = {}
    for key in sorted(manifests):
        versions = manifests[key]
        previous_raw: bytes | None = None
        for version in range(1, max(versions) + 1):
            path = versions.get(version)
            if path is None:
                expected = layout.manifest_path(*key, version)
                report.findings.append(Finding("manifest", expected, "manifest version is missing (deleted?)"))
                previous_raw = None
                continue
            raw = store.read_bytes(path)
            manifest_sha[path] = sha256_hex(raw)
            report.manifests += 1
            try:
                data = json.loads(raw)
            except ValueError:
                report.findings.append(Finding("manifest", path, "not valid JSON"))
                continue
            expected_prev = sha256_hex(previous_raw) if previous_raw is not None else None
            if version > 1 and previous_raw is not None and data.get("previous_manifest_sha256") != expected_prev:
                report.findings.append(Finding("manifest", path, "previous_manifest_sha256 does not match "
                                               f"v{version - 1:06d} (a manifest was edited)"))
            previous_raw = raw
            for entry in [*data.get("files", []), *data.get("tombstones", []), *data.get("quarantine", [])]:
                named.add(entry["path"])
                _check_file(store, entry, report)
            if deep and version == max(versions):
                _deep_check(store, path, data, report)
    _check_extra(objects, named, include, report)
    _check_audit(store, manifest_sha, report)
    return report


def _check_file(store: ArchiveStore, entry: dict, report: VerifyReport) -> None:
    path = entry["path"]
    report.files += 1
    if not store.exists(path):
        report.findings.append(Finding("missing", path, "named by a manifest but not in the archive"))
        return
    size = store.size(path)
    report.bytes += size
    if size != entry["bytes"]:
        report.findings.append(Finding("size", path, f"{size} bytes, manifest says {entry['bytes']} (truncated?)"))
        return
    if sha256_hex(store.read_bytes(path)) != entry["sha256"]:
        report.findings.append(Finding("sha256", path, "content differs from the manifest's sha256 (corrupted)"))


def _deep_check(store: ArchiveStore, manifest_path: str, data: dict, report: VerifyReport) -> None:
    files = data.get("files", [])
    if any(f for f in report.findings if f.path in {e["path"] for e in files}):
        return  # already known bad; reading it would only repeat the finding
    fp = data.get("fingerprint", {})
    if fp.get("algorithm") != ALGORITHM:
        report.findings.append(Finding("fingerprint", manifest_path, f"unknown algorithm {fp.get('algorithm')}"))
        return
    schema = data.get("schema", [])
    con = duckdb.connect()
    try:
        with ExitStack() as stack:
            locals_ = [str(stack.enter_context(store.local_copy(f["path"]))) for f in files]
            values, rows = [], 0
            for entry, local in zip(files, locals_, strict=True):
                # per file: after schema drift, files of one period hold different columns
                value, count = fingerprint_of(con, file_reader(data["format"], [local], schema))
                values.append(value)
                rows += count
                report.rows_checked += count
                if count != entry["rows"]:
                    report.findings.append(Finding("rows", entry["path"],
                                                   f"{count} rows, manifest says {entry['rows']}"))
            value = combine(*values) if values else "0" * 32
        if rows != data["row_count"] or value != fp.get("value"):
            report.findings.append(Finding("fingerprint", manifest_path, "rows read back do not match the "
                                           "manifest's fingerprint"))
    except duckdb.Error as exc:
        report.findings.append(Finding("rows", manifest_path, f"cannot read the files back: {exc}"))
    finally:
        con.close()


_ARROW_TO_DUCKDB = [(r"^int8$", "TINYINT"), (r"^int16$", "SMALLINT"), (r"^int32$", "INTEGER"), (r"^int64$", "BIGINT"),
                    (r"^uint8$", "UTINYINT"), (r"^uint16$", "USMALLINT"), (r"^uint32$", "UINTEGER"),
                    (r"^uint64$", "UBIGINT"), (r"^(float|halffloat)$", "FLOAT"), (r"^double$", "DOUBLE"),
                    (r"^bool$", "BOOLEAN"), (r"^(string|large_string)$", "VARCHAR"), (r"^date32", "DATE"),
                    (r"^timestamp\[\w+, tz=", "TIMESTAMPTZ"), (r"^timestamp", "TIMESTAMP"), (r"^time64", "TIME"),
                    (r"^decimal128\((\d+), (\d+)\)$", r"DECIMAL(\1,\2)"), (r"^(binary|large_binary)$", "BLOB")]


def duckdb_type(arrow_type: str) -> str:
    for pattern, duck_type in _ARROW_TO_DUCKDB:
        if re.match(pattern, arrow_type):
            return re.sub(pattern, duck_type, arrow_type) if "\\" in duck_type else duck_type
    return "VARCHAR"


def file_reader(fmt: str, urls: list[str], schema: list[dict] | None = None) -> str:
    listed = "[" + ", ".join("'" + u.replace("'", "''") + "'" for u in urls) + "]"
    if fmt == "parquet":
        # the folder names carry period=...: without this DuckDB would add it as a column
        return f"read_parquet({listed}, hive_partitioning=false)"
    # CSV carries no types: read it with the manifest's schema so the fingerprint sees the same values
    columns = ", ".join(f"'{c['name']}': '{duckdb_type(c['type'])}'" for c in schema or [])
    return f"read_csv({listed}, header=true, hive_partitioning=false, columns={{{columns}}})"


def _check_extra(objects: list[str], named: set[str], include, report: VerifyReport) -> None:
    for path in objects:
        if path.startswith(_SYSTEM) or _MANIFEST.match(path) or path in named:
            continue
        m = _DATA.match(path)
        if m and include is not None and not include(m["d"], m["t"]):
            continue
        report.findings.append(Finding("extra", path, "no manifest names this file"))


def _check_audit(store: ArchiveStore, manifest_sha: dict[str, str], report: VerifyReport) -> None:
    previous: bytes | None = None
    recorded: dict[str, str] = {}
    for expected_seq, (path, raw, entry) in enumerate(read_chain(store), start=1):
        if entry.get("sequence") != expected_seq or not path.endswith(f"{expected_seq:010d}.json"):
            report.findings.append(Finding("audit", path, f"expected entry {expected_seq} here (removed or reordered)"))
        want = sha256_hex(previous) if previous is not None else None
        if entry.get("previous_sha256") != want:
            report.findings.append(Finding("audit", path, "previous_sha256 does not match the entry before it "
                                           "(the chain was edited)"))
        previous = raw
        if entry.get("manifest"):
            recorded[entry["manifest"]] = entry.get("manifest_sha256", "")
    for path, sha in manifest_sha.items():
        if path not in recorded:
            report.findings.append(Finding("audit", path, "manifest is not recorded in the audit chain"))
        elif recorded[path] != sha:
            report.findings.append(Finding("manifest", path, "manifest differs from the sha256 recorded in the "
                                           "audit chain (edited)"))
    for path in recorded:
        if path not in manifest_sha and not store.exists(path):
            report.findings.append(Finding("manifest", path, "recorded in the audit chain but missing (deleted)"))
