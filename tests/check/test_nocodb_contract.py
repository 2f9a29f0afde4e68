"""The case that hid data: NocoDB keeps Decimal fields as PostgreSQL `numeric` without scale. Such a
column is archived as a decimal (not text), so `min`/`max` run and catch every row above the limit,
on the tickets that real NocoDB wrote (tests/fixtures/nocodb_helpdesk.dump: 1,569 of 7,840 tickets
have sla_hours above 50). A check that raises fails the unit; it is never read as "no violations"."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import psycopg
import pytest

from archival.archive.store import LocalStore
from archival.check.contract import CheckFailedToRun, ContractError
from archival.verify.check import verify_archive
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SPEC = """domain: helpdesk
owner: o@example.com
source: nocodb
tables:
  tickets:
    relation: {schema}.tickets
    primary_key: [id]
    mode: full
    on_invalid: {policy}
    columns:
      sla_hours: {{{rules}}}
"""


@pytest.fixture
def nocodb(nocodb_pg, tmp_path, monkeypatch):
    dsn, schema = nocodb_pg
    monkeypatch.setenv("NOCODB_DSN", dsn)

    def project(policy: str, rules: str, name: str = "p"):
        spec = SPEC.format(schema=schema, policy=policy, rules=rules)
        return write_project(tmp_path / name, "  nocodb: {type: postgres, dsn: env:NOCODB_DSN}", {"helpdesk": spec})

    def count(where: str) -> int:
        with psycopg.connect(dsn) as con:
            return con.execute(f"SELECT count(*) FROM {schema}.tickets WHERE {where}").fetchone()[0]
    return project, count


def test_min_max_on_unscaled_numeric_quarantines_every_violating_row(nocodb):
    project, count = nocodb
    over = count("sla_hours > 50")
    assert over == 1569  # the fixture's README: real NocoDB data
    folder = project("quarantine", "min: 0, max: 50")
    _, results = run_units(folder, AS_OF)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["quarantined_rows"] == over
    assert manifest["contract"]["violations"] == {"sla_hours: less_than_or_equal_to(50)": over}
    assert manifest["row_count"] == count("true") - over
    assert {"name": "sla_hours", "type": "decimal128(38, 2)", "nullable": True} in manifest["schema"]
    assert verify_archive(LocalStore(folder / "archive"), deep=True).ok


def test_on_invalid_fail_names_a_violating_row(nocodb):
    project, _ = nocodb
    folder = project("fail", "min: 0, max: 50")
    with pytest.raises(ContractError, match=r"helpdesk.tickets row id=\d+: sla_hours: less_than_or_equal_to\(50\)"):
        run_units(folder, AS_OF)
    assert not (folder / "archive" / "helpdesk").exists()


def test_declared_decimal_is_checked_row_by_row(nocodb):
    """`type: decimal(4,1)` on the unscaled column: the type fits (a decimal), each value must fit too."""
    project, count = nocodb
    too_precise = count("sla_hours <> round(sla_hours, 1)")
    assert too_precise > 0
    folder = project("quarantine", 'type: "decimal(4,1)"')
    _, results = run_units(folder, AS_OF)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert manifest["contract"]["violations"] == {"sla_hours: decimal(4,1)": too_precise}


def test_a_check_that_raises_fails_the_unit_naming_column_and_check(nocodb):
    """If a raising check were swallowed, the unit would be written with no violations."""
    project, _ = nocodb
    folder = project("quarantine", "checks: [explodes]")
    (folder / "checks.py").write_text(
        "from archival.check.registry import register_check\n\n\n@register_check('explodes')\n"
        "def explodes(values):\n    raise RuntimeError('the check itself is broken')\n")
    with pytest.raises(CheckFailedToRun, match=r"column 'sla_hours': check explodes could not run .*broken"):
        run_units(folder, AS_OF)
    assert not (folder / "archive" / "helpdesk").exists()
