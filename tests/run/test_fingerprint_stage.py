"""The fingerprint stage runs the plan's algorithm, and v2 only where every column has its row text."""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa
import pytest

from archival.archive.fingerprint import FingerprintUnavailable
from archival.plan.stages import Fingerprint
from archival.run.pipeline import FACTORIES

FLAT = pa.schema([("id", pa.int64()), ("title", pa.string())])
NESTED = pa.schema([("id", pa.int64()), ("tags", pa.list_(pa.string()))])


def _stage(stage: Fingerprint, schema: pa.Schema):
    run = SimpleNamespace(pii=SimpleNamespace(schema=schema), ctx=SimpleNamespace(tuning=SimpleNamespace(threads=1)),
                          unit=SimpleNamespace(id="d.t/2026-01"))
    return FACTORIES[Fingerprint](stage, run)


@pytest.mark.parametrize("algorithm", ["sum-xxh3-text-v2", "sum-xxh3-words-v3"])
def test_v2_or_v3_where_every_column_has_a_row_text_else_v1(algorithm):
    assert _stage(Fingerprint(algorithm, kept=False), FLAT).algorithm == algorithm
    assert _stage(Fingerprint(algorithm, kept=False), NESTED).algorithm == "sum-md5-json-v1"
    assert _stage(Fingerprint("sum-md5-json-v1"), FLAT).algorithm == "sum-md5-json-v1"


@pytest.mark.parametrize("algorithm", ["sum-xxh3-text-v2", "sum-xxh3-words-v3"])
def test_a_v2_or_v3_period_cannot_take_a_nested_column_in_a_delta(algorithm):
    with pytest.raises(FingerprintUnavailable, match=rf"d\.t/2026-01: .*{algorithm}.*nested or interval.*--refresh"
                       ) as refused:
        _stage(Fingerprint(algorithm, kept=True), NESTED)
    assert "column(s) tags " in str(refused.value)  # names the column


@pytest.mark.postgres
def test_a_v3_period_gaining_an_array_column_fails_until_refreshed(pg_dsn, tmp_path, monkeypatch, capsys):
    """PostgreSQL: a period archived with v3 gains a text[] column (drift: evolve). Its delta cannot
    add v1-only rows to v3 sums: the unit fails naming the column and `--refresh`, nothing of it is
    published; the refresh rewrites the period with v1 and the archive verifies."""
    import json
    from datetime import UTC, datetime

    import psycopg

    from archival import cli
    from archival.archive.store import LocalStore
    from archival.plan.refresh import Refresh
    from archival.verify.check import verify_archive
    from tests.conftest import write_project
    from tests.run.helpers import run_units

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE items (id int PRIMARY KEY, updated_at timestamp NOT NULL, v text)")
        con.execute("INSERT INTO items SELECT g, timestamp '2026-10-01' + g * interval '1 hour', 'v' || g "
                    "FROM generate_series(1, 50) g")
    monkeypatch.setenv("ITEMS_DSN", pg_dsn)
    spec = ("domain: app\nowner: o@example.com\nsource: pg\ntables:\n  items: {relation: public.items, "
            "primary_key: [id], mode: incremental, cursor: updated_at, period: month, lag: 0s}\n")
    folder = write_project(tmp_path / "p", "  pg: {type: postgres, dsn: env:ITEMS_DSN}", {"app": spec})
    _, first = run_units(folder, datetime(2026, 10, 20, tzinfo=UTC))
    assert [(r.unit_id, r.outcome) for r in first] == [("app.items/2026-10", "written")]
    manifests = folder / "archive" / "app" / "items" / "_manifests" / "period=2026-10"
    assert json.loads((manifests / "v000001.json").read_bytes())["fingerprint"]["algorithm"] == "sum-xxh3-words-v3"

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("ALTER TABLE items ADD COLUMN tags text[]")
        con.execute("UPDATE items SET tags = '{a,b}', updated_at = timestamp '2026-10-21' WHERE id = 7")
    code = cli.main(["run", "--project-dir", str(folder), "--as-of", "2026-10-22T00:00:00Z", "--no-progress",
                     "--no-prefect"])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in out + err
    said = [line for line in (out + err).splitlines() if "column(s) tags " in line]
    assert said and all("app.items/2026-10" in line and "--refresh" in line for line in said), out + err
    assert sorted(p.name for p in manifests.iterdir()) == ["v000001.json"]  # nothing published

    refresh = Refresh("an array column arrived", ("app.items/2026-10",))
    _, rewritten = run_units(folder, datetime(2026, 10, 22, tzinfo=UTC), refresh=refresh)
    assert [r.outcome for r in rewritten] == ["written"]
    current = json.loads((manifests / "v000002.json").read_bytes())
    # both versions of id 7 (incremental keeps history): 51 rows
    assert current["fingerprint"]["algorithm"] == "sum-md5-json-v1" and current["row_count"] == 51
    report = verify_archive(LocalStore(folder / "archive"), deep=True)
    assert report.ok, [str(f) for f in report.findings]
