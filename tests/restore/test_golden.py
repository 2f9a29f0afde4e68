"""Archives written by release 0.1.0 (tests/fixtures/golden/v0.1.0, Parquet and CSV, manifests without
recorded source types) restore and query: each table verified by fingerprint, its types from the
archive's (said once per table), the same rows as the query views, and the full tables equal to
the source they were archived from."""

from __future__ import annotations

import json

import pytest

from archival import cli
from archival.source import duck
from archival.spec.model import Source
from tests.conftest import FIXTURES

GOLDEN = FIXTURES / "golden" / "v0.1.0"



@pytest.mark.parametrize("domain", ["helpdesk", "helpdesk_csv"])
def test_a_golden_archive_restores_and_queries(golden, domain, capsys):
    target = golden / "restored.db"
    assert cli.main(["restore", "--project-dir", str(golden), "-s", f"domain:{domain}", "--to", str(target)]) == 0
    out = capsys.readouterr().out
    restored = out.count("verified by fingerprint")
    assert restored >= 3 and out.count("column types from the archive's: its manifests predate") == restored, out
    tables = [line.split()[1].split(".")[1] for line in out.splitlines() if line.startswith("restored ")]

    sql = " UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {domain}.{t}" for t in tables)
    assert cli.main(["query", "--project-dir", str(golden), "--format", "json", "--sql", sql]) == 0
    views = {r["t"]: r["n"] for r in json.loads(capsys.readouterr().out)}
    with duck.POOL.connection(("sqlite",)) as con:
        duck.attach(con, Source("r", "sqlite", path=str(target)), golden, alias="r")
        duck.attach(con, Source("s", "sqlite", path=str(golden / "data" / "helpdesk.db")), golden, alias="s")
        try:
            assert {t: con.execute(f"SELECT count(*) FROM r.{t}").fetchone()[0] for t in tables} == views
            if domain == "helpdesk":
                for table, relation in [("labels", "labels"), ("ticket_labels", "_nc_m2m_tickets_labels")]:
                    for a, b in [(f"s.{relation}", f"r.{table}"), (f"r.{table}", f"s.{relation}")]:
                        assert con.execute(f"SELECT count(*) FROM (FROM {a} EXCEPT ALL FROM {b})").fetchone() == (0,)
        finally:
            con.execute("DETACH r")
            con.execute("DETACH s")


def test_two_selected_tables_with_one_name_are_refused(golden, capsys):
    target = golden / "restored.db"
    assert cli.main(["restore", "--project-dir", str(golden), "-s", "domain:helpdesk", "-s", "domain:helpdesk_csv",
                     "--to", str(target)]) == 2
    assert capsys.readouterr().err == ("archival restore: helpdesk.customers and helpdesk_csv.customers: they would "
                                       "restore into one table; select one of them and name the target table with "
                                       "--table\n")
    assert not target.exists()
