"""A table's contract as a Pandera DataFrameSchema (polars backend) plus what Pandera cannot see in
one batch: declared types against the source's types (once per unit) and uniqueness across batches.

on_invalid: `fail` stops the unit before anything is published; `quarantine` sets the bad rows aside
(with their reasons) and archives the rest; `warn` archives everything and reports."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import duckdb
import pandera.polars as papl
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pandera import Check
from pandera.errors import SchemaErrors

from archival.check.registry import get_check, known_checks
from archival.source.duck import quote_ident
from archival.spec.model import Column, Table

_FAMILIES = {"int8": "integer", "int16": "integer", "int32": "integer", "int64": "integer", "float32": "float",
             "float64": "float", "string": "text", "json": "text", "uuid": "text", "boolean": "boolean",
             "date": "date", "timestamp": "timestamp", "timestamptz": "timestamptz", "time": "time",
             "binary": "binary"}


class ContractError(Exception):
    """A contract that cannot hold for this unit, or rows that break it under on_invalid: fail."""


def _family(arrow_type: pa.DataType) -> str:
    if pa.types.is_integer(arrow_type):
        return "integer"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "text"
    if pa.types.is_boolean(arrow_type):
        return "boolean"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamptz" if arrow_type.tz else "timestamp"
    if pa.types.is_time(arrow_type):
        return "time"
    if pa.types.is_binary(arrow_type) or pa.types.is_large_binary(arrow_type):
        return "binary"
    return str(arrow_type)


def type_problems(table: Table, schema: pa.Schema) -> list[str]:
    problems = []
    for column in table.columns:
        if column.type is None or column.name not in schema.names:
            continue
        actual = schema.field(column.name).type
        wanted = "decimal" if column.type.startswith("decimal") else _FAMILIES[column.type]
        got = _family(actual)
        if wanted == "decimal" and got == "decimal":
            precision, scale = map(int, re.findall(r"\d+", column.type))
            if actual.scale != scale or actual.precision > precision:
                problems.append(f"{column.name}: declared {column.type}, the source has {actual}")
        elif wanted != got and not (wanted == "float" and got in ("integer", "decimal")):
            problems.append(f"{column.name}: declared {column.type}, the source has {actual}")
    return problems


def _checks(column: Column) -> list[Check]:
    checks = []
    if column.allowed is not None:
        checks.append(Check.isin(list(column.allowed)))
    if column.min is not None:
        checks.append(Check.ge(column.min))
    if column.max is not None:
        checks.append(Check.le(column.max))
    if column.regex is not None:
        checks.append(Check.str_matches(column.regex))
    if column.max_length is not None:
        checks.append(Check.str_length(max_value=column.max_length))
    for name in column.checks:
        fn = get_check(name)
        if fn is None:
            raise ContractError(f"column {column.name}: unknown named check '{name}'; known: "
                                f"{', '.join(known_checks())} (register more in checks.py)")
        # a Pandera polars check answers with a LazyFrame of booleans; ours take and give a Series
        checks.append(Check(lambda data, fn=fn: data.lazyframe.select(
            pl.col(data.key).map_batches(fn, return_dtype=pl.Boolean)), name=name))
    return checks


def build_schema(table: Table, present: list[str]) -> papl.DataFrameSchema:
    columns = {c.name: papl.Column(None, checks=_checks(c), nullable=c.nullable, unique=False, required=False)
               for c in table.columns if c.name in present and c.pii != "drop"}
    return papl.DataFrameSchema(columns, strict=False)


@dataclass
class ContractResult:
    good: pa.RecordBatch
    bad: pa.Table | None  # the bad rows plus a `_reasons` column
    reasons: Counter = field(default_factory=Counter)


class ContractChecker:
    """Validates batch by batch; remembers values of `unique` columns across batches (in DuckDB).
    Rows arrive ordered by primary key, so a one-column key's duplicates are neighbours: it is
    checked against the previous row alone, in constant memory, however big the table."""

    def __init__(self, table: Table, schema: pa.Schema):
        self.table = table
        problems = type_problems(table, schema)
        if problems:
            raise ContractError(f"{table.location}: {table.qualified_name}: " + "; ".join(problems))
        self.schema = build_schema(table, schema.names)
        unique = [c.name for c in table.columns if c.unique and c.name in schema.names]
        self.ordered = [n for n in unique if list(table.primary_key) == [n]]
        self.unique = [n for n in unique if n not in self.ordered]
        self.last: dict[str, object] = {}
        self.active = bool(self.schema.columns) or bool(unique)
        self.con = duckdb.connect() if self.unique else None
        for name in self.unique:
            self.con.execute(f"CREATE TABLE {quote_ident('seen_' + name)} (v {_duck(schema.field(name).type)})")
        self.totals: Counter = Counter()

    def check(self, batch: pa.RecordBatch) -> ContractResult:
        if not self.active or batch.num_rows == 0:
            return ContractResult(batch, None)
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        reasons: dict[int, list[str]] = {}
        try:
            self.schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            cases = exc.failure_cases
            for row in cases.iter_rows(named=True):
                if row["index"] is not None:
                    reasons.setdefault(int(row["index"]), []).append(f"{row['column']}: {row['check']}")
        for name in self.unique:
            for index in self._duplicates(batch, name):
                reasons.setdefault(index, []).append(f"{name}: unique")
        for name in self.ordered:
            for index in self._neighbour_duplicates(batch, name):
                reasons.setdefault(index, []).append(f"{name}: unique")
        if not reasons:
            return ContractResult(batch, None)
        bad_index = sorted(reasons)
        mask = pa.array([i in reasons for i in range(batch.num_rows)])
        counts = Counter(r for i in bad_index for r in reasons[i])
        self.totals.update(counts)
        bad = pa.Table.from_batches([batch.filter(mask)])
        bad = bad.append_column("_reasons", pa.array(["; ".join(reasons[i]) for i in bad_index], pa.string()))
        return ContractResult(batch.filter(pc.invert(mask)), bad, counts)

    def _duplicates(self, batch: pa.RecordBatch, name: str) -> list[int]:
        seen = quote_ident("seen_" + name)
        column = pa.table({"v": batch.column(batch.schema.get_field_index(name)),
                           "i": pa.array(range(batch.num_rows), pa.int64())})
        self.con.register("uniq_batch", column)
        rows = self.con.execute(f"""SELECT i FROM (SELECT v, i, row_number() OVER (PARTITION BY v ORDER BY i) AS n
            FROM uniq_batch WHERE v IS NOT NULL) b WHERE n > 1 OR v IN (SELECT v FROM {seen}) ORDER BY i""").fetchall()
        self.con.execute(f"INSERT INTO {seen} SELECT v FROM uniq_batch WHERE v IS NOT NULL")
        self.con.unregister("uniq_batch")
        return [i for (i,) in rows]

    def _neighbour_duplicates(self, batch: pa.RecordBatch, name: str) -> list[int]:
        values = batch.column(batch.schema.get_field_index(name))
        previous = pa.concat_arrays([pa.array([self.last.get(name)], values.type), values.slice(0, len(values) - 1)])
        self.last[name] = values[len(values) - 1].as_py()
        same = pc.fill_null(pc.equal(values, previous), False)  # NULL is never a duplicate
        return pc.indices_nonzero(same).to_pylist()

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


def _duck(arrow_type: pa.DataType) -> str:
    """DuckDB's name for an Arrow type (the column type of the table of seen unique values)."""
    return str(duckdb.from_arrow(pa.table({"v": pa.array([], arrow_type)})).types[0])


def sample_message(table: Table, bad: pa.Table) -> str:
    """First bad row: key, reasons and values (masked where the column is PII)."""
    row = bad.slice(0, 1).to_pylist()[0]
    key = ", ".join(f"{k}={row[k]!r}" for k in table.primary_key)
    reasons = row["_reasons"]
    pii = {c.name for c in table.columns if c.pii}
    cols = {r.split(":")[0] for r in reasons.split("; ")}
    values = ", ".join(f"{c}={'***' if c in pii else repr(row.get(c))}" for c in sorted(cols))
    return f"{table.qualified_name} row {key}: {reasons} (value: {values})"
