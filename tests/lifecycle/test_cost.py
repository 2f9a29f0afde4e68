"""`archival cost` on the demo: bytes per tier equal the current manifests' file bytes, growth comes
from the periods of the last 12 months, projections grow with it, source sizes give a compression
ratio, and the text and markdown outputs are pinned (tests/cases/cost/, UPDATE_GOLDEN=1 to regenerate
and review)."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime

import pytest

from archival import cli
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from tests.conftest import ROOT
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)
CASES = ROOT / "tests" / "cases" / "cost"


@pytest.fixture(scope="module")
def demo(tmp_path_factory, small_demo_db):
    folder = tmp_path_factory.mktemp("cost")
    shutil.copy(ROOT / "archival.yaml", folder / "archival.yaml")
    shutil.copytree(ROOT / "specs", folder / "specs")
    (folder / "data").mkdir()
    shutil.copy(small_demo_db, folder / "data" / "helpdesk.db")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
        run_units(folder, AS_OF)
    return folder


def _cost(demo, capsys, *extra: str) -> str:
    capsys.readouterr()
    assert cli.main(["cost", "--project-dir", str(demo), "--as-of", AS_OF.isoformat(), *extra]) == 0
    return capsys.readouterr().out


def test_bytes_growth_and_projection(demo, capsys, monkeypatch):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    report = json.loads(_cost(demo, capsys, "--format", "json"))
    store = LocalStore(demo / "archive")
    for table in report["tables"]:
        domain, name = table["table"].split(".")
        manifests = [a.manifest for a in archived_periods(store, domain, name).values()]
        assert sum(table["bytes_by_tier"].values()) == sum(
            f.bytes for m in manifests for f in [*m.files, *m.tombstones, *m.quarantine])
        assert table["source_bytes"] > sum(table["bytes_by_tier"].values())  # Parquet is smaller than SQLite
    growing = {t["table"]: t["growth_per_month"] for t in report["tables"] if t["growth_per_month"]}
    assert set(growing) == {"helpdesk.tickets", "helpdesk.ticket_comments"}  # full tables do not grow
    horizons = report["horizons"]
    assert [h["years"] for h in horizons] == [1, 3, 5]
    totals = [sum(h["bytes_by_tier"].values()) for h in horizons]
    assert totals[0] < totals[1] < totals[2]
    assert totals[2] - totals[1] == pytest.approx(24 * sum(growing.values()), rel=0.01)  # no expiry within 7y
    assert horizons[0]["storage"] < horizons[1]["storage"] < horizons[2]["storage"]


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_output_is_pinned(demo, capsys, monkeypatch, fmt):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    out = _cost(demo, capsys, "--format", fmt, "--offline")
    golden = CASES / f"demo.{'md' if fmt == 'markdown' else 'txt'}"
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(out)
    assert out == golden.read_text()


def test_prices_from_the_project(demo, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    folder = tmp_path / "priced"
    shutil.copytree(demo, folder)
    with (folder / "archival.yaml").open("a") as f:
        f.write("costs: {currency: EUR, taken: 'test prices', storage_gb_month: {hot: 2300, cool: 1250, cold: 400}}\n")
    report = json.loads(_cost(folder, capsys, "--format", "json", "--offline"))
    assert report["prices"]["currency"] == "EUR" and report["prices"]["storage_gb_month"]["hot"] == 2300
    assert report["prices"]["transition_per_1000"] == {"cool": 0.01, "cold": 0.02}  # defaults kept
    default = json.loads(_cost(demo, capsys, "--format", "json", "--offline"))
    assert report["horizons"][0]["storage"] == pytest.approx(default["horizons"][0]["storage"] * 100000, rel=1e-6)


def test_years_out_of_range_are_refused(demo, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["cost", "--project-dir", str(demo), "--years", "0"])
    assert exit_.value.code == 2 and "'0' is not a number of years from 1 to 50" in capsys.readouterr().err


def test_source_sizes_from_postgres_and_mariadb(pg_dsn, mysql_db, tmp_path):
    """The compression ratio's basis on the server engines: the catalogue's size of table + indexes."""
    import psycopg
    import pymysql

    from archival.source.size import relation_bytes
    from archival.spec.model import Source
    from tests.conftest import MYSQL

    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE t AS SELECT g AS id, repeat('x', 200) AS body FROM generate_series(1, 20000) g")
    assert relation_bytes(Source("pg", "postgres", dsn=pg_dsn), tmp_path, ["public.t"])["public.t"] > 4_000_000
    name, dsn = mysql_db
    with pymysql.connect(**MYSQL, database=name, autocommit=True) as con, con.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, body TEXT)")
        cur.executemany("INSERT INTO t VALUES (%s, %s)", [(i, "x" * 200) for i in range(5000)])
        cur.execute("ANALYZE TABLE t")
    assert relation_bytes(Source("my", "mysql", dsn=dsn), tmp_path, ["t"])["t"] > 1_000_000
