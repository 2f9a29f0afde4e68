"""The `clustered` read: only where key order can be relied on once verified, and the verification
catches a break inside a batch, across a batch boundary, and a NULL key."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from archival.extract.query import SourceColumn, build_query, clustered_key
from archival.extract.snapshot import KeyOrderError, _in_key_order
from archival.plan.units import ExportUnit, Window
from archival.source.types import ColumnRead
from archival.spec.load import load_project
from tests.conftest import write_project
from tests.run.test_export_sources import FULL_SPEC  # the MySQL `items` table of the real-database test

SPEC = FULL_SPEC + """  codes:
    relation: codes
    primary_key: [code]
    mode: full
  pairs:
    relation: pairs
    primary_key: [a, b]
    mode: full
"""
COLUMNS = [SourceColumn("id", "BIGINT"), SourceColumn("code", "VARCHAR"), SourceColumn("a", "INTEGER"),
           SourceColumn("b", "INTEGER")]


def _unit(table: str, window: Window | None = None, period: str = "full") -> ExportUnit:
    return ExportUnit("shop", table, period, "full", "my", "", "due", "", window=window)


@pytest.fixture
def project(tmp_path):
    return load_project(write_project(tmp_path, "  my: {type: mysql, dsn: env:MY_DSN}", {"shop": SPEC}))


def test_only_whole_tables_keyed_by_one_integer_column_on_mysql(project):
    domain = project.domain("shop")
    items, codes, pairs = (domain.table(n) for n in ("items", "codes", "pairs"))
    assert clustered_key("mysql", items, _unit("items"), COLUMNS) == "id"
    assert clustered_key("sqlite", items, _unit("items"), COLUMNS) is None
    assert clustered_key("mysql", codes, _unit("codes"), COLUMNS) is None  # collation order is not byte order
    assert clustered_key("mysql", pairs, _unit("pairs"), COLUMNS) is None
    window = Window(("id",), datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    assert clustered_key("mysql", items, _unit("items", window, "2026-01"), COLUMNS) is None  # a range read may
    # come through the cursor's index, in cursor order
    reads = [ColumnRead(c, "scanned") for c in COLUMNS]
    query = build_query("mysql", items, _unit("items"), reads, clustered=True)
    assert query.strategy == "clustered" and "ORDER BY" not in query.rows_sql
    sorted_query = build_query("mysql", items, _unit("items"), reads)
    assert sorted_query.strategy == "scan" and sorted_query.rows_sql.endswith('ORDER BY "id"')


def _batches(*chunks):
    return iter([pa.record_batch({"id": pa.array(c, pa.int64())}) for c in chunks])


@pytest.mark.parametrize("chunks", [([1, 3, 2],), ([1, 2, 3], [3, 4]), ([1, 2], [0]), ([1, None, 5],)],
                         ids=["inside a batch", "repeated at a boundary", "lower at a boundary", "NULL key"])
def test_a_break_in_key_order_stops_the_read(chunks):
    with pytest.raises(KeyOrderError, match="not in id order"):
        list(_in_key_order(_batches(*chunks), "id"))


def test_ascending_keys_pass_through_unchanged():
    out = list(_in_key_order(_batches([1, 2], [], [5], [6, 9]), "id"))
    assert [b.column(0).to_pylist() for b in out] == [[1, 2], [], [5], [6, 9]]
