"""`verify --deep`: re-read the current manifest's files through the archive reader and check their row
counts and the order-independent fingerprint against the manifest."""

from __future__ import annotations

from contextlib import ExitStack

import duckdb

from archival.archive.fingerprint import ALGORITHMS, combine, fingerprint_of
from archival.archive.manifest import Manifest
from archival.archive.read import ArchiveReader, rows_sql
from archival.archive.store import ArchiveStore
from archival.source.duck import local_connection
from archival.verify.check import VerifyReport


def deep_check(store: ArchiveStore, manifest_path: str, manifest: Manifest, report: VerifyReport) -> None:
    paths = {f.path for f in manifest.files}
    if any(f.path in paths or f.path == manifest_path for f in report.findings):
        return  # already known bad; reading it would only repeat the finding
    if paths & report.frozen:
        return  # not readable before a retrieval: its files' sha256 were checked against their metadata
    if manifest.fingerprint.algorithm not in ALGORITHMS:
        report.add("fingerprint", manifest_path, f"unknown algorithm {manifest.fingerprint.algorithm}")
        return
    con = local_connection()
    try:
        with ExitStack() as stack:
            files = ArchiveReader(store, stack).data([manifest])
            values, rows = [], 0
            for entry, local in zip(manifest.files, files, strict=True):
                # per file: after schema drift, files of one period hold different columns
                value, count = fingerprint_of(con, f"({rows_sql([local], con=con)})", manifest.fingerprint.algorithm)
                values.append(value)
                rows += count
                report.rows_checked += count
                if count != entry.rows:
                    report.add("rows", entry.path, f"{count} rows, manifest says {entry.rows}")
            value = combine(*values) if values else "0" * 32
        if rows != manifest.row_count or value != manifest.fingerprint.value:
            report.add("fingerprint", manifest_path, "rows read back do not match the manifest's fingerprint")
    except duckdb.Error as exc:
        report.add("rows", manifest_path, f"cannot read the files back: {exc}")
    finally:
        con.close()
