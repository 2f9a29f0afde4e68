"""A check that cannot apply to its column's archive type (`min` on text, `regex` on a number, strings
allowed in a number column, a text-only named check on a number) is a spec error at `validate
--connect` (exit 2, file:line, every misfit named) and stops a unit before it reads a row."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from archival import cli
from archival.check.contract import ContractError
from tests.conftest import write_project
from tests.run.helpers import run_units

SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  orders:
    relation: orders
    primary_key: [id]
    mode: full
    columns:
{columns}"""
MISFITS = """      title: {min: 0, allowed: [1, 2]}
      amount: {regex: "^[0-9]+$", checks: [valid_email]}
      paid: {max_length: 3}
"""


@pytest.fixture
def project(tmp_path):
    (tmp_path / "data").mkdir()
    with sqlite3.connect(tmp_path / "data" / "app.db") as con:
        con.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, title TEXT, amount REAL, paid BOOLEAN)")
        con.execute("INSERT INTO orders VALUES (1, 'first', 9.5, 1)")

    def make(columns: str):
        spec = SPEC.format(columns=columns)
        return write_project(tmp_path, "  app: {type: sqlite, path: data/app.db}", {"shop": spec})
    return make


def test_validate_connect_names_every_misfit(project, capsys):
    folder = project(MISFITS)
    assert cli.main(["validate", "--project-dir", str(folder)]) == 0  # the spec alone is well-formed
    code = cli.main(["validate", "--connect", "--project-dir", str(folder)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("specs/shop.yaml:5:3: shop.orders: ")
    for misfit in ("column 'title': `min` needs a number column, but the column is TEXT",
                   "column 'title': `allowed` needs values of the column's kind",
                   "column 'amount': `regex` needs a text column, but the column is REAL",
                   "column 'amount': `checks: valid_email` needs text column",
                   "column 'paid': `max_length` needs a text column, but the column is BOOLEAN"):
        assert misfit in err
    assert "Traceback" not in err


def test_fitting_checks_pass_validate_connect(project, capsys):
    folder = project("      title: {regex: \"^[a-z]+$\", allowed: [first]}\n      amount: {min: 0, max: 10}\n")
    assert cli.main(["validate", "--connect", "--project-dir", str(folder)]) == 0


def test_a_unit_refuses_a_misfit_contract_before_reading(project):
    folder = project("      title: {min: 0}\n")
    with pytest.raises(ContractError, match=r"shop.orders: column 'title': `min` needs a number column, but the "
                                            r"column is string"):
        run_units(folder, datetime(2026, 11, 1, tzinfo=UTC), check_plan=False)
    assert not (folder / "archive" / "shop").exists()
