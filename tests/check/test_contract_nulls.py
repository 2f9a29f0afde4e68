"""A contract whose only rules are NOT NULL (every table's key has one, even without a contract) is
judged from Arrow's null counts when a batch has no NULL there, and by Pandera when it has: the rows
set aside and their reasons are Pandera's either way."""

from __future__ import annotations

import pandera.polars as papl
import pyarrow as pa
import pytest

from archival.check.contract import ContractChecker
from archival.spec.load import load_project
from tests.conftest import write_project

SPEC = """domain: shop
owner: o@example.com
source: db
tables:
  plain:
    relation: plain
    primary_key: [id]
    mode: full
  declared:
    relation: declared
    primary_key: [id]
    mode: full
    columns:
      status: {nullable: false}
  checked:
    relation: checked
    primary_key: [id]
    mode: full
    columns:
      status: {allowed: [new, paid]}
"""
SCHEMA = pa.schema([("id", pa.int64()), ("status", pa.string())])


@pytest.fixture(scope="module")
def domain(tmp_path_factory):
    folder = write_project(tmp_path_factory.mktemp("nulls"), "  db: {type: sqlite, path: db.sqlite}", {"shop": SPEC})
    return load_project(folder).domains[0]


@pytest.fixture
def pandera_calls(monkeypatch):
    calls = []
    validate = papl.DataFrameSchema.validate

    def counted(self, *args, **kwargs):
        calls.append(1)
        return validate(self, *args, **kwargs)

    monkeypatch.setattr(papl.DataFrameSchema, "validate", counted)
    return calls


def batch(rows: list[tuple]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)


@pytest.mark.parametrize("name", ["plain", "declared"])
def test_no_null_where_not_null_is_the_only_rule_passes_without_pandera(domain, pandera_calls, name):
    result = ContractChecker(domain.table(name), SCHEMA).check(batch([(1, "new"), (2, None), (3, "x")]
                                                                   if name == "plain" else [(1, "new"), (2, "x")]))
    assert result.bad is None and result.good.num_rows in (3, 2)
    assert pandera_calls == []


def test_a_null_key_is_judged_by_pandera(domain, pandera_calls):
    result = ContractChecker(domain.table("plain"), SCHEMA).check(batch([(1, "new"), (None, "paid"), (3, None)]))
    assert pandera_calls == [1]
    assert result.bad is not None and result.bad.column("_reasons").to_pylist() == ["id: not_nullable"]
    assert result.good.column("id").to_pylist() == [1, 3]


def test_a_declared_not_null_column_is_judged_by_pandera_when_it_has_a_null(domain, pandera_calls):
    result = ContractChecker(domain.table("declared"), SCHEMA).check(batch([(1, None), (2, "x")]))
    assert pandera_calls == [1]
    assert result.bad.column("_reasons").to_pylist() == ["status: not_nullable"]


def test_a_contract_with_checks_always_goes_to_pandera(domain, pandera_calls):
    result = ContractChecker(domain.table("checked"), SCHEMA).check(batch([(1, "new"), (2, "bogus")]))
    assert pandera_calls == [1]
    assert result.bad.column("_reasons").to_pylist() == ["status: isin(['new', 'paid'])"]
