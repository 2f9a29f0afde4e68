"""Transient failures are retried by the flow's tasks; systemic ones are not. A canary password in
a DSN never shows in the archive, the run record, lineage, Prefect logs or artifacts."""

from __future__ import annotations

import json

import psycopg
import pytest

from archival import cli
from archival.run import unit as unit_module
from archival.run.errors import classify
from tests.conftest import write_project

CANARY = "canary-Pg-S3cret"
AS_OF = "2026-04-10T00:00:00Z"


@pytest.fixture
def pg_project(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE customers (id int PRIMARY KEY, name text)")
        con.execute("INSERT INTO customers SELECT g, 'n' || g FROM generate_series(1, 50) g")
    # trust authentication accepts any password: the canary travels all the way to the server
    monkeypatch.setenv("APP_DSN", pg_dsn + f" password={CANARY}")
    monkeypatch.setenv("DOWN_DSN", f"postgresql://app:{CANARY}@127.0.0.1:1/nowhere")  # refused: error path
    sources = "  pg: {type: postgres, dsn: env:APP_DSN}\n  down: {type: postgres, dsn: env:DOWN_DSN}"
    down = "domain: down\nowner: o@example.com\nsource: down\ntables:\n  t: {relation: t, primary_key: [id]}\n"
    return write_project(tmp_path, sources, {"down": down, "app": """domain: app
owner: o@example.com
source: pg
tables:
  customers: {relation: public.customers, primary_key: [id], mode: full}
  missing: {relation: public.missing, primary_key: [id], mode: full}
"""})


def test_classification():
    assert classify(ConnectionResetError("reset")) == "transient"
    assert classify(RuntimeError("server closed the connection unexpectedly")) == "transient"
    assert classify(RuntimeError('relation "x" does not exist')) == "systemic"
    assert classify(OSError(28, "No space left on device")) == "systemic"
    assert classify(RuntimeError('reading t failed: Failed to prepare COPY "COPY (SELECT 1) TO STDOUT": ')) == \
        "transient"  # a killed PostgreSQL connection, as DuckDB reports it
    assert classify(RuntimeError('Failed to prepare COPY "x": ERROR:  syntax error')) == "systemic"


def test_transient_failure_is_retried_then_succeeds(pg_project, prefect_server, monkeypatch, capsys):
    (pg_project / "specs" / "down.yaml").unlink()
    spec = pg_project / "specs" / "app.yaml"
    spec.write_text(spec.read_text().replace("  missing: {relation: public.missing, primary_key: [id], mode: full}\n",
                                             ""))
    real = unit_module.export_unit
    calls = {"n": 0}

    def flaky(ctx, unit, lineage=None, connection=None):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ConnectionResetError("connection reset by peer")
        return real(ctx, unit, lineage, connection)

    monkeypatch.setattr("archival.run.work.export_unit", flaky)  # where the flow's tasks call it
    assert cli.main(["run", "--project-dir", str(pg_project), "--as-of", AS_OF]) == 0
    assert calls["n"] == 2
    assert "1 written" in capsys.readouterr().out


def test_canary_password_never_leaks(pg_project, prefect_server, capsys):
    # a relation the source lacks refuses the whole run before anything is exported (exit 2)
    code = cli.main(["run", "--project-dir", str(pg_project), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    assert code == 2 and "relation 'public.missing' does not exist" in err and CANARY not in out + err
    assert not (pg_project / "archive" / "_runs").exists()
    spec = pg_project / "specs" / "app.yaml"
    spec.write_text(spec.read_text().replace("public.missing", "public.customers"))

    code = cli.main(["run", "--project-dir", str(pg_project), "--as-of", AS_OF])
    out, err = capsys.readouterr()
    assert code == 1  # the unreachable source fails (after retries); the others are written
    assert "down.t/full" in out and "cannot be attached" in out
    assert CANARY not in out + err
    for path in (pg_project / "archive").rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    record = json.loads(next((pg_project / "archive" / "_runs").glob("*.json")).read_bytes())
    assert record["totals"]["outcomes"] == {"written": 2, "failed": 1}
    assert CANARY not in json.dumps(record)

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter

    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(), limit=200)
        artifacts = client.read_artifacts(limit=50)
    assert logs and all(CANARY not in log.message for log in logs)
    assert all(CANARY not in json.dumps(a.data, default=str) for a in artifacts)
