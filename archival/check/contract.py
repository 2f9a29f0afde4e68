"""A table's contract as a Pandera DataFrameSchema (polars backend) plus what Pandera cannot see in
one batch: whether each check fits its column (check/fit.py, once per unit), the primary key's
uniqueness (check/keys.py) and other `unique` columns across batches.

Nothing passes unchecked: a check that raises (Pandera reports it as a `check_error` without a row)
fails the unit naming the column and the check; it is never read as "no violations".

on_invalid: `fail` stops the unit before anything is published; `quarantine` sets the bad rows aside
(with their reasons) and archives the rest; `warn` archives everything and reports."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import duckdb
import pandera.polars as papl
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
from pandera import Check
from pandera.errors import SchemaErrorReason, SchemaErrors

from archival.check.fit import declared_decimal, families_of_schema, fit_problems
from archival.check.keys import KeyRuns
from archival.check.registry import get_check, known_checks
from archival.source.duck import local_connection
from archival.spec.model import Column, Table
from archival.sql import quote_ident


class ContractError(Exception):
    """A contract that cannot hold for this unit, or rows that break it under on_invalid: fail."""


class CheckFailedToRun(ContractError):
    """A check raised instead of judging rows: the unit fails, nothing is published."""


def _decimal_fits(precision: int, scale: int) -> Check:
    """Each value fits `decimal(P,S)`: at most S digits after the point and P - S before it."""
    def fits(data):
        col = pl.col(data.key)
        fit = col.round(scale) == col
        if precision - scale < 38:  # a decimal128 cannot hold 10**38 anyway
            fit = fit & (col.abs() < pl.lit(Decimal(10) ** (precision - scale)))
        return data.lazyframe.select(fit)
    return Check(fits, name=f"decimal({precision},{scale})")


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
    fits = declared_decimal(column)
    if fits is not None:
        checks.append(_decimal_fits(*fits))
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
    """The Pandera schema of the columns that are read; key columns are never NULL."""
    columns = {c.name: papl.Column(None, checks=_checks(c), nullable=c.nullable and c.name not in table.primary_key,
                                   unique=False, required=False)
               for c in table.columns if c.name in present and c.pii != "drop"}
    for name in table.primary_key:
        if name in present and name not in columns:
            columns[name] = papl.Column(None, nullable=False, unique=False, required=False)
    return papl.DataFrameSchema(columns, strict=False)


# Rows judged in one call (several batches at once): Pandera's cost per call is mostly fixed (5M rows
# in 65,536-row calls 0.7-0.9 s, in 262,144-row calls 0.35 s); the bytes bound keeps wide rows small
CHECK_ROWS = 262_144
CHECK_BYTES = 64 << 20


@dataclass
class ContractResult:
    good: pa.RecordBatch | pa.Table
    bad: pa.Table | None  # the bad rows plus a `_reasons` column
    reasons: Counter = field(default_factory=Counter)


class ContractChecker:
    """Validates batch by batch; remembers values of `unique` columns across batches (in DuckDB).
    The primary key's uniqueness arrives as a mask from KeyRuns; `reject_all` marks every row (the
    rows of `period=out_of_range`, whose cursor no calendar period can hold)."""

    def __init__(self, table: Table, schema: pa.Schema, reject_all: str | None = None):
        self.table = table
        problems = fit_problems(table, families_of_schema(schema))
        if problems:
            raise ContractError(f"{table.location}: {table.qualified_name}: " + "; ".join(problems))
        self.schema = build_schema(table, schema.names)
        # a schema whose only rules are NOT NULL (a table without a contract has its key's) finds
        # nothing in a batch without NULLs in those columns: Arrow's null counts say so without Pandera
        self.not_null_only = [name for name, column in self.schema.columns.items() if not column.nullable] \
            if not any(column.checks for column in self.schema.columns.values()) else None
        self.declared = any(c.name in schema.names and c.pii != "drop" for c in table.columns)
        keyed = list(table.primary_key)
        self.unique = [c.name for c in table.columns if c.unique and c.name in schema.names and [c.name] != keyed]
        self.reject_all = reject_all
        self.con = local_connection() if self.unique else None
        for name in self.unique:
            self.con.execute(f"CREATE TABLE {quote_ident('seen_' + name)} (v {_duck(schema.field(name).type)})")
        self.totals: Counter = Counter()

    @property
    def recorded(self) -> bool:
        """Whether the manifest carries a `contract` block: the spec declares one, or a row broke the
        key rule (every table's key is checked; a table without a contract and without violations
        keeps the manifest it had before keys were checked)."""
        return self.declared or bool(self.totals)

    def check(self, batch: pa.RecordBatch | pa.Table, duplicated: pa.Array | None = None,
              key_reason: str = "") -> ContractResult:
        if batch.num_rows == 0:
            return ContractResult(batch, None)
        reasons: dict[int, list[str]] = {}
        self._pandera(batch, reasons)
        if duplicated is not None:
            for index in pc.indices_nonzero(duplicated).to_pylist():
                reasons.setdefault(index, []).append(key_reason)
        for name in self.unique:
            for index in self._duplicates(batch, name):
                reasons.setdefault(index, []).append(f"{name}: unique")
        if self.reject_all:
            for index in range(batch.num_rows):
                reasons.setdefault(index, []).append(self.reject_all)
        if not reasons:
            return ContractResult(batch, None)
        bad_index = sorted(reasons)
        mask = pa.array([i in reasons for i in range(batch.num_rows)])
        counts = Counter(r for i in bad_index for r in reasons[i])
        self.totals.update(counts)
        bad = batch.filter(mask)
        bad = pa.Table.from_batches([bad]) if isinstance(bad, pa.RecordBatch) else bad
        bad = bad.append_column("_reasons", pa.array(["; ".join(reasons[i]) for i in bad_index], pa.string()))
        return ContractResult(batch.filter(pc.invert(mask)), bad, counts)

    def _pandera(self, batch: pa.RecordBatch | pa.Table, reasons: dict[int, list[str]]) -> None:
        if not self.schema.columns:
            return
        if self.not_null_only is not None and not any(batch.column(name).null_count for name in self.not_null_only):
            return
        # only the columns the schema judges cross into polars (rows keep their index)
        frame = pl.from_arrow(batch.select([n for n in self.schema.columns if n in batch.schema.names]))
        assert isinstance(frame, pl.DataFrame)
        try:
            self.schema.validate(frame, lazy=True)
        except SchemaErrors as exc:
            self._raise_if_a_check_did_not_run(exc)
            for row in exc.failure_cases.iter_rows(named=True):
                reasons.setdefault(int(row["index"]), []).append(f"{row['column']}: {row['check']}")

    def _raise_if_a_check_did_not_run(self, exc: SchemaErrors) -> None:
        """A failure without a row is a check that could not judge rows (it raised, or applied to the
        column as a whole): read as "no violations" it would let every row through."""
        for error in exc.schema_errors:
            rowless = error.reason_code == SchemaErrorReason.CHECK_ERROR
            cases = getattr(error, "failure_cases", None)
            if not rowless and isinstance(cases, pl.DataFrame) and "index" in cases.columns:
                rowless = cases["index"].null_count() > 0
            if rowless:
                check = getattr(error.check, "name", None) or str(error.check)
                column = getattr(error, "column_name", None) or "?"
                cause = str(error).splitlines()[0][:300]
                raise CheckFailedToRun(f"{self.table.location}: {self.table.qualified_name}: column '{column}': "
                                       f"check {check} could not run ({cause}); nothing was published") from None

    def _duplicates(self, batch: pa.RecordBatch | pa.Table, name: str) -> list[int]:
        seen = quote_ident("seen_" + name)
        column = pa.table({"v": batch.column(batch.schema.get_field_index(name)),
                           "i": pa.array(range(batch.num_rows), pa.int64())})
        self.con.register("uniq_batch", column)
        rows = self.con.execute(f"""SELECT i FROM (SELECT v, i, row_number() OVER (PARTITION BY v ORDER BY i) AS n
            FROM uniq_batch WHERE v IS NOT NULL) b WHERE n > 1 OR v IN (SELECT v FROM {seen}) ORDER BY i""").fetchall()
        self.con.execute(f"INSERT INTO {seen} SELECT v FROM uniq_batch WHERE v IS NOT NULL")
        self.con.unregister("uniq_batch")
        return [i for (i,) in rows]

    def close(self) -> None:
        if self.con is not None:
            self.con.close()


class ContractStage:
    """The `contract` stage: the key rule (check/keys.py) and the column checks, with `on_invalid`
    deciding what a breaking row does: `fail` raises before anything is published, `quarantine`
    hands the bad rows (with their reasons) to `set_aside` and passes the rest, `warn` passes all.
    Batches are judged in groups of about CHECK_ROWS rows and leave in the order they came."""

    name = "contract"

    def __init__(self, table: Table, schema: pa.Schema, set_aside: Callable[[pa.Table], None],
                 reject_all: str | None = None, check_rows: int = CHECK_ROWS):
        self.table, self.set_aside, self.check_rows = table, set_aside, check_rows
        self.checker = ContractChecker(table, schema, reject_all)
        self.runs = KeyRuns(table.primary_key)
        self._group: list[tuple[pa.RecordBatch, pa.Array]] = []
        self._group_rows = self._group_bytes = 0

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        for released, duplicated in self.runs.feed(batch):
            yield from self._gather(released, duplicated)

    def finish(self) -> Iterator[pa.RecordBatch]:
        for released, duplicated in self.runs.finish():
            yield from self._gather(released, duplicated)
        yield from self._judge()

    def _gather(self, batch: pa.RecordBatch, duplicated: pa.Array) -> Iterator[pa.RecordBatch]:
        self._group.append((batch, duplicated))
        self._group_rows += batch.num_rows
        self._group_bytes += batch.nbytes
        if self._group_rows >= self.check_rows or self._group_bytes >= CHECK_BYTES:
            yield from self._judge()

    def _judge(self) -> Iterator[pa.RecordBatch]:
        group, self._group, self._group_rows, self._group_bytes = self._group, [], 0, 0
        if not group:
            return
        batches = [batch for batch, _ in group]
        data = batches[0] if len(group) == 1 else pa.Table.from_batches(batches)
        duplicated = pa.concat_arrays([mask for _, mask in group])
        verdict = self.checker.check(data, duplicated, self.runs.reason)
        if verdict.bad is not None and self.table.on_invalid == "fail":
            raise ContractError(f"{self.table.location}: {sample_message(self.table, verdict.bad)}; "
                                "on_invalid is 'fail', nothing was published")
        if verdict.bad is not None and self.table.on_invalid == "quarantine":
            self.set_aside(verdict.bad)
            good = verdict.good
            yield from ([good] if isinstance(good, pa.RecordBatch) else good.to_batches())
            return
        yield from batches

    @property
    def violations(self) -> Counter:
        return self.checker.totals

    def close(self) -> None:
        self.checker.close()


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
    values = ", ".join(f"{c}={'***' if c in pii else repr(row.get(c))}" for c in sorted(cols) if c in row)
    return f"{table.qualified_name} row {key}: {reasons} (value: {values})"
