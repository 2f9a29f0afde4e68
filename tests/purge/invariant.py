"""The purge invariant, checked from outside the purge: every row that left the source during a purge
was in the archive with equal content (the row hash reconcile uses, over the export's own reading of
the source), and no row the archive lacks left the source."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import duckdb
import pyarrow as pa

from archival.archive.read import ArchiveReader
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.plan.units import SPECIAL_PERIODS
from archival.spec.load import load_project
from archival.sql import quote_ident
from archival.verify.reconcile import archive_hashes, source_hashes


def _key_cols(table) -> str:
    return ", ".join(quote_ident(k) for k in table.primary_key)


def source_state(folder: Path, name: str, key: bytes | None) -> pa.Table:
    """(key..., h, period) of every source row in the table's archived calendar periods."""
    project = load_project(folder)
    domain, table_name = name.split(".")
    table = project.domain(domain).table(table_name)
    store = LocalStore(folder / "archive")
    parts = []
    for label, archived in sorted(archived_periods(store, domain, table_name).items()):
        if label in SPECIAL_PERIODS:
            continue
        with duckdb.connect() as con:
            source_hashes(con, project, table, label, archived.manifest, key)
            parts.append(con.execute(f"SELECT *, '{label}' AS period FROM src").to_arrow_table())
    return pa.concat_tables(parts)


def archive_state(folder: Path, name: str) -> pa.Table:
    """(key..., h, period) of the archive's current rows (an incremental key's latest version)."""
    project = load_project(folder)
    domain, table_name = name.split(".")
    table = project.domain(domain).table(table_name)
    store = LocalStore(folder / "archive")
    periods = archived_periods(store, domain, table_name)
    everything = [a.manifest for a in periods.values()]
    parts = []
    for label, archived in sorted(periods.items()):
        if label in SPECIAL_PERIODS or not archived.manifest.files:
            continue
        with duckdb.connect() as con, ExitStack() as stack:
            present = [c.name for c in archived.manifest.columns]
            manifests = everything if table.mode == "incremental" else [archived.manifest]
            archive_hashes(con, ArchiveReader(store, stack), table, archived.manifest, present, manifests, manifests)
            parts.append(con.execute(f"SELECT {_key_cols(table)}, h, '{label}' AS period FROM arc").to_arrow_table())
    return pa.concat_tables(parts)


def assert_purged_rows_archived(folder: Path, name: str, before: pa.Table, after: pa.Table) -> int:
    """How many rows left the source; fails unless each is archived with equal content."""
    project = load_project(folder)
    domain, table_name = name.split(".")
    table = project.domain(domain).table(table_name)
    keys = _key_cols(table)
    with duckdb.connect() as con:
        con.register("before", before)
        con.register("after", after)
        con.register("arc", archive_state(folder, name))
        con.execute(f"CREATE TABLE gone AS SELECT * FROM before ANTI JOIN after USING ({keys})")
        gone = con.execute("SELECT count(*) FROM gone").fetchone()[0]
        unarchived = con.execute(f"SELECT {keys} FROM gone ANTI JOIN arc USING ({keys})").fetchall()
        differing = con.execute(f"SELECT {', '.join('g.' + quote_ident(k) for k in table.primary_key)} FROM gone g "
                                f"JOIN arc a USING ({keys}) WHERE g.h <> a.h").fetchall()
    assert not unarchived, f"{name}: rows left the source that the archive does not hold: {unarchived[:5]}"
    assert not differing, f"{name}: rows left the source whose archived copy differs: {differing[:5]}"
    return gone
