"""Relations checked by reconcile, on the helpdesk that real NocoDB wrote (no FK constraints in
PostgreSQL; deleting a customer nulled `tickets.customers_id` without touching `updated_at`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import duckdb
import psycopg

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: helpdesk
owner: support@example.com
source: nocodb
tables:
  customers: {{relation: {schema}.customers, primary_key: [id], mode: full}}
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: incremental
    cursor: [updated_at, created_at]
    period: quarter
relations:
  - {{from: tickets.customers_id, to: customers.id}}
"""


def _reconcile(folder, capsys):
    code = cli.main(["reconcile", "--json", "--project-dir", str(folder)])
    return code, json.loads(capsys.readouterr().out)


def test_relations_on_nocodb_data(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)
    folder = write_project(tmp_path, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}",
                           {"helpdesk": SPEC.format(schema=schema)})
    _, results = run_units(folder, datetime(2026, 12, 1, tzinfo=UTC))
    assert sum(r.rows for r in results if "tickets" in r.unit_id) == 7840  # the fixture's README count
    code, report = _reconcile(folder, capsys)
    assert code == 0, report
    relation = report["relations"][0]
    assert relation["status"] == "ok" and relation["source_orphans"] == relation["archive_orphans"] == 0

    # the archive loses a customer that tickets reference: the archive has orphans the source does not
    customers = next((folder / "archive" / "helpdesk" / "customers").glob("period=full/*.parquet"))
    tickets = f"{folder}/archive/helpdesk/tickets/*/*.parquet"
    referenced = duckdb.sql(f"SELECT min(customers_id) FROM read_parquet('{tickets}')").fetchone()[0]
    duckdb.sql(f"COPY (SELECT * FROM read_parquet('{customers}', hive_partitioning=false) WHERE id <> {referenced}) "
               f"TO '{customers}.tmp' (FORMAT parquet)")
    customers.with_name(customers.name + ".tmp").replace(customers)
    code, report = _reconcile(folder, capsys)
    relation = report["relations"][0]
    assert code == 1 and relation["status"] == "mismatch" and relation["sample"] == [referenced]
    assert relation["archive_orphans"] > relation["source_orphans"] == 0

    # a dangling link written in the source (NocoDB enforces none): the source's own orphan is the baseline
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(f"UPDATE {schema}.tickets SET customers_id = 999999 WHERE id = (SELECT min(id) FROM "
                    f"{schema}.tickets)")
    code, report = _reconcile(folder, capsys)
    assert report["relations"][0]["source_orphans"] == 1
