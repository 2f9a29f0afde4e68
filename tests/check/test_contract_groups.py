"""The contract judges several batches in one call (check/contract.py CHECK_ROWS): wherever batches
are cut and however many go into a group, the rows passed on, the rows set aside with their reasons,
the counts and a failure's message are those of judging each batch alone."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.check.contract import ContractError, ContractStage
from archival.spec.load import load_project
from tests.conftest import write_project

SPEC = """domain: shop
owner: o@example.com
source: db
tables:
  orders:
    relation: orders
    primary_key: [id]
    mode: full
    on_invalid: {policy}
    columns:
      id: {{type: int64}}
      status: {{allowed: [new, paid]}}
      amount: {{type: int64, min: 0, max: 10}}
      ref: {{type: int64, unique: true}}
"""
SCHEMA = pa.schema([("id", pa.int64()), ("status", pa.string()), ("amount", pa.int64()), ("ref", pa.int64())])
TABLES: dict[str, object] = {}


def _table(policy: str, tmp_path_factory):
    if policy not in TABLES:
        folder = write_project(tmp_path_factory.mktemp(policy), "  db: {type: sqlite, path: db.sqlite}",
                               {"shop": SPEC.format(policy=policy)})
        TABLES[policy] = load_project(folder).domains[0].table("orders")
    return TABLES[policy]


def _judge(table, rows: list[tuple], cuts: list[int], check_rows: int):
    """(rows passed on, rows set aside, violation counts, failure message) of one stage."""
    data = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)
    bounds = sorted({0, len(rows), *(c for c in cuts if 0 < c < len(rows))})
    aside: list[pa.Table] = []
    stage = ContractStage(table, SCHEMA, aside.append, check_rows=check_rows)
    calls = Counter()
    judge = stage.checker.check
    stage.checker.check = lambda *a, **k: calls.update(["call"]) or judge(*a, **k)
    passed: list[pa.RecordBatch] = []
    try:
        for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
            passed += stage.feed(data.slice(lo, hi - lo).to_batches()[0])
        passed += stage.finish()
    except ContractError as exc:
        return None, None, None, str(exc), calls["call"]
    finally:
        stage.close()
    out = pa.Table.from_batches(passed, schema=SCHEMA).to_pylist()
    bad = pa.concat_tables(aside).to_pylist() if aside else []
    return out, bad, stage.violations, None, calls["call"]


ROW = st.tuples(st.sampled_from(["new", "paid", "lost", None]), st.integers(-2, 12) | st.none(), st.integers(0, 30))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3), ROW), min_size=1, max_size=80),
       st.lists(st.integers(1, 79), max_size=10), st.integers(2, 40), st.sampled_from(["quarantine", "warn", "fail"]))
def test_groups_judge_as_batches_alone_do(tmp_path_factory, steps, cuts, check_rows, policy):
    rows, key = [], 0
    for step, (status, amount, ref) in steps:  # ascending keys, step 0 repeats one (a duplicate)
        key += step
        rows.append((key, status, amount, ref))
    table = _table(policy, tmp_path_factory)
    *alone, _ = _judge(table, rows, cuts, check_rows=1)
    *grouped, calls = _judge(table, rows, cuts, check_rows=check_rows)
    assert grouped == alone


def test_a_group_is_one_call(tmp_path_factory):
    table = _table("quarantine", tmp_path_factory)
    rows = [(i, "new" if i != 7 else "lost", 1, i) for i in range(100)]
    cuts = list(range(10, 100, 10))  # ten batches of ten rows
    out, bad, counts, _, calls = _judge(table, rows, cuts, check_rows=50)
    assert calls == 2 and len(out) == 99 and [r["id"] for r in bad] == [7]
    assert counts == Counter({"status: isin(['new', 'paid'])": 1})
    *_, calls = _judge(table, rows, cuts, check_rows=1)
    assert calls == 10


@pytest.mark.parametrize("policy", ["fail"])
def test_a_failure_names_the_first_bad_row_of_the_group(tmp_path_factory, policy):
    table = _table(policy, tmp_path_factory)
    rows = [(i, "new", 1 if i not in (23, 41) else 99, i) for i in range(60)]
    *_, message, calls = _judge(table, rows, list(range(10, 60, 10)), check_rows=1000)
    assert calls == 1 and "row id=23" in message and "nothing was published" in message
