"""The primary key is checked on every table, declared `unique` or not: a key twice (every copy is
invalid, whatever order the source returned them in), or a NULL in a key column."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.check.contract import ContractError
from archival.check.keys import KeyRuns
from archival.run.context import Tuning
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)


def _flagged(key_rows: list[tuple], cuts: list[int], key=("a", "b")) -> list[bool]:
    """Feed rows (sorted keys) in batches cut at `cuts`; the duplicate mask of all released rows."""
    runs, out = KeyRuns(key), []
    rows = pa.record_batch({name: pa.array([r[i] for r in key_rows], pa.int64()) for i, name in enumerate(key)})
    edges = [0, *sorted(c for c in cuts if 0 < c < len(key_rows)), len(key_rows)]
    for lo, hi in zip(edges, edges[1:], strict=False):
        for batch, mask in runs.feed(rows.slice(lo, hi - lo)):
            assert batch.num_rows == len(mask)
            out += mask.to_pylist()
    for _, mask in runs.finish():
        out += mask.to_pylist()
    assert runs.duplicates == sum(out)
    return out


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.one_of(st.none(), st.integers(0, 2))), max_size=40),
       st.lists(st.integers(0, 40), max_size=6))
def test_every_copy_of_a_duplicated_key_is_flagged_wherever_batches_are_cut(keys, cuts):
    rows = sorted(keys, key=lambda r: (r[0], r[1] is None, r[1] or 0))
    expected = [r[1] is not None and sum(1 for o in rows if o == r) > 1 for r in rows]  # NULL never equals
    assert _flagged(rows, cuts) == expected


def test_a_run_straddling_three_batches():
    assert _flagged([(1, 1), (2, 2), (2, 2), (2, 2), (3, 3)], [2, 3]) == [False, True, True, True, False]


def _project(tmp_path, policy: str):
    (tmp_path / "data").mkdir(exist_ok=True)
    with sqlite3.connect(tmp_path / "data" / "app.db") as con:
        # a junction table without constraint, as apps write them: one pair twice, one pair three times
        con.execute("CREATE TABLE IF NOT EXISTS links (ticket INTEGER, label INTEGER, note TEXT)")
        con.execute("DELETE FROM links")
        con.executemany("INSERT INTO links VALUES (?, ?, ?)",
                        [(1, 1, "a"), (1, 2, "b"), (1, 2, "c"), (2, 1, "d"), (3, 3, "e"), (3, 3, "f"), (3, 3, "g"),
                         (4, 1, "h")])
    spec = ("domain: d\nowner: o@example.com\nsource: app\ntables:\n  links:\n    relation: links\n"
            f"    primary_key: [ticket, label]\n    mode: full\n    on_invalid: {policy}\n")
    return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"d": spec})


@pytest.mark.parametrize("batch_rows", [2, 65_536])
def test_duplicate_keys_are_quarantined_without_a_declared_contract(tmp_path, batch_rows):
    folder = _project(tmp_path, "quarantine")
    _, results = run_units(folder, AS_OF, tuning=Tuning(batch_rows=batch_rows))
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["contract"]["violations"] == {"ticket, label: unique": 5}
    assert (manifest["row_count"], manifest["quarantined_rows"]) == (3, 5)
    _, again = run_units(folder, AS_OF, tuning=Tuning(batch_rows=batch_rows))
    assert again[0].outcome == "unchanged"


def test_duplicate_keys_fail_the_unit_by_default(tmp_path):
    with pytest.raises(ContractError, match=r"d.links row ticket=1, label=2: ticket, label: unique"):
        run_units(_project(tmp_path, "fail"), AS_OF)
    assert not (tmp_path / "archive" / "d").exists()
