"""The archive's type for every source column: how each engine's types are read, so that no value
changes on its way into the archive and a number is never archived as text.

Most types are read as DuckDB's scanner presents them. The exceptions are rules of their own:
- `decimal`: PostgreSQL `numeric` without precision (NocoDB's Decimal, Currency, Percent), a
  `numeric` wider than 38 digits and `money` have no Arrow type of their own; the scanner would read
  them as doubles (losing digits). They are read as `decimal128(38, S)` in PostgreSQL itself, S the
  largest scale in the unit's rows (never below the scale the table was archived with, so periods
  agree); a value that needs more than 38 digits fails the unit with the column named.
- `text`: a type whose value the scanner would change or cannot write (PostgreSQL `time with time
  zone` loses its offset; `interval` has no Parquet type) is read as the engine's own text.
- `json_text`: lists and structs in a CSV archive, which has no nested values, as JSON text.
- `float_declared`: a number only a double can hold where the engine cannot cast it inside the
  unit's snapshot (MySQL `decimal(P>38, S)`) is refused unless the spec declares `type: float64`.
- refused: a type the scanner cannot read at all (SQLite `TIME`) fails with the way out.
The table of docs/types.md is TYPE_ROWS, and every row is a test (tests/source/test_types.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from archival.source.columns import SourceColumn
from archival.spec.model import FileFormat, SourceType

ReadRule = Literal["scanned", "decimal", "text", "json_text", "float_declared"]
Family = Literal["integer", "float", "decimal", "text", "boolean", "date", "timestamp", "timestamptz", "time",
                 "binary", "nested", "other"]
MAX_DIGITS = 38  # Arrow's decimal128, DuckDB's widest DECIMAL


class TypeRefused(Exception):
    """A column whose values cannot be archived unchanged as the spec stands; says the way out."""


@dataclass(frozen=True)
class ColumnRead:
    """How one column is read, and why (recorded per column in the manifest's `source_schema`)."""

    column: SourceColumn
    rule: ReadRule

    @property
    def name(self) -> str:
        return self.column.name


_NUMERIC = re.compile(r"^numeric(\((\d+)(,\s*(-?\d+))?\))?$")
_MYSQL_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)", re.IGNORECASE)


def declared_scale(column: SourceColumn) -> int | None:
    """The scale a PostgreSQL numeric declares, if it declares one."""
    match = _NUMERIC.match((column.native_type or "").lower())
    return int(match.group(4) or 0) if match and match.group(2) else None


def _wide_numeric(native: str) -> bool:
    match = _NUMERIC.match(native)
    return bool(match) and (match.group(2) is None or int(match.group(2)) > MAX_DIGITS)


def read_rule(engine: SourceType, column: SourceColumn, declared: str | None, fmt: FileFormat) -> ReadRule:
    """The rule for one column; TypeRefused when no rule keeps its values unchanged."""
    native = (column.native_type or "").lower()
    if engine == "postgres":
        if _wide_numeric(native) or native == "money":
            return "float_declared" if declared == "float64" else "decimal"
        if native.startswith("time") and "with time zone" in native and not native.startswith("timestamp"):
            return "text"
        if native.startswith("interval"):
            return "text"
    elif engine == "mysql":
        if "`" in column.name:
            raise TypeRefused(f"column '{column.name}' has a backtick in its name, which DuckDB's MySQL scanner "
                              "cannot quote (it sends \\` and MySQL rejects the query); leave it out with "
                              "`pii: drop`, or read the table through a view that renames it")
        match = _MYSQL_DECIMAL.match(native)
        if match and int(match.group(1)) > MAX_DIGITS:
            if declared == "float64":
                return "float_declared"
            raise TypeRefused(f"column '{column.name}' is {native}: wider than the archive's {MAX_DIGITS} digits, "
                              "and MySQL can hand it over only as a double inside the unit's snapshot; declare "
                              f"`type: float64` for it to archive doubles, or narrow it in a view")
    elif engine == "sqlite":
        kind = native.upper()
        if "TIME" in kind and "DATETIME" not in kind and "TIMESTAMP" not in kind:
            raise TypeRefused(f"column '{column.name}' is declared {column.native_type}: DuckDB's SQLite scanner "
                              "reads it as a timestamp and fails on times of day; archive the table through a view "
                              f"that casts it: CAST(\"{column.name}\" AS TEXT)")
    if fmt == "csv" and is_nested(column.duck_type):
        return "json_text"
    return "scanned"


def is_nested(duck_type: str) -> bool:
    kind = duck_type.upper()
    return kind.endswith("]") or kind.startswith(("STRUCT", "MAP", "UNION"))


def decimal_type(scale: int) -> str:
    return f"DECIMAL({MAX_DIGITS},{scale})"


def choose_scale(name: str, data_scale: int | None, largest: str | None, declared: int | None,
                 floor: int | None) -> int:
    """The scale of a `decimal` column: the source's declared scale, else the largest scale in the
    data, never below `floor` (the scale the table was archived with). `largest` is the largest
    absolute value as text, to check that the integer digits still fit."""
    scale = declared if declared is not None else max(data_scale or 0, floor or 0)
    scale = min(max(scale, 0), MAX_DIGITS)
    if largest is not None:
        value = Decimal(largest)
        if not value.is_finite():
            raise TypeRefused(f"column '{name}' holds {largest}, which no decimal can hold; declare `type: float64` "
                              "for it to archive doubles")
        digits = value.adjusted() + 1 if value >= 1 else 0
        if digits + scale > MAX_DIGITS:
            raise TypeRefused(f"column '{name}' holds a value with {digits} integer digits and {scale} after the "
                              f"point: more than the archive's {MAX_DIGITS}; declare `type: float64` for it to "
                              "archive doubles, or round it in a view")
    return scale


_ARCHIVED_DECIMAL = re.compile(rf"^decimal128\({MAX_DIGITS}, (\d+)\)$")


def scale_floor(schema: list[dict]) -> dict[str, int]:
    """Per column archived as decimal128(38, S): S, the scale a `decimal` read must not go below."""
    found = {}
    for entry in schema:
        match = _ARCHIVED_DECIMAL.match(str(entry.get("type", "")))
        if match:
            found[str(entry["name"])] = int(match.group(1))
    return found


def family(duck_type: str) -> Family:
    """The family of a DuckDB type (what contract checks can apply to)."""
    kind = duck_type.upper()
    if is_nested(kind):
        return "nested"
    if kind in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                "UBIGINT", "UHUGEINT"):
        return "integer"
    if kind in ("FLOAT", "DOUBLE", "REAL"):
        return "float"
    if kind.startswith("DECIMAL"):
        return "decimal"
    if kind in ("VARCHAR", "UUID", "JSON") or kind.startswith("ENUM"):
        return "text"
    if kind == "BOOLEAN":
        return "boolean"
    if kind == "DATE":
        return "date"
    if kind in ("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ"):
        return "timestamptz"
    if kind.startswith("TIMESTAMP"):
        return "timestamp"
    if kind.startswith("TIME"):
        return "time"
    if kind == "BLOB" or kind.startswith("BIT"):
        return "binary"
    return "other"


def archive_family(read: ColumnRead) -> Family:
    """The family of the column as archived (after its rule)."""
    if read.rule == "decimal":
        return "decimal"
    if read.rule in ("text", "json_text"):
        return "text"
    return family(read.column.duck_type)


@dataclass(frozen=True)
class TypeRow:
    """One row of docs/types.md. Its test creates a column of `ddl` holding `value` on `engine` and
    reads it through the export: it must arrive as `arrow` showing `shows`."""

    engine: SourceType
    source: str
    archive: str
    how: str
    ddl: str
    value: str
    arrow: str
    shows: str


def _rows(engine: SourceType, *rows: tuple[str, str, str, str, str, str, str]) -> list[TypeRow]:
    return [TypeRow(engine, *row) for row in rows]


_SCANNED = "as DuckDB's scanner reads it"
TYPE_ROWS: list[TypeRow] = [
    *_rows("postgres",
           ("smallint, integer, bigint (serial)", "int16, int32, int64", _SCANNED, "bigint", "42", "int64", "42"),
           ("numeric(P,S), P <= 38 (Directus decimal)", "decimal128(P, S)", _SCANNED, "numeric(6,2)", "1234.5",
            "decimal128(6, 2)", "1234.50"),
           ("numeric without precision (NocoDB Decimal, Currency, Percent)", "decimal128(38, S)",
            "S = the largest scale in the data (never below the archived one); more than 38 digits fail the unit",
            "numeric", "12.345", "decimal128(38, 3)", "12.345"),
           ("numeric(P,S), P > 38", "decimal128(38, S)", "read as numeric(38,S) in PostgreSQL; a value needing more "
            "than 38 digits fails the unit", "numeric(50,4)", "1.5", "decimal128(38, 4)", "1.5000"),
           ("money", "decimal128(38, S)", "money::numeric, S from the data", "money", "12.34",
            "decimal128(38, 2)", "12.34"),
           ("real, double precision (Directus float)", "float, double", _SCANNED, "double precision", "2.5",
            "double", "2.5"),
           ("boolean (NocoDB Checkbox)", "bool", _SCANNED, "boolean", "true", "bool", "True"),
           ("text, varchar(n), char(n), citext", "string", _SCANNED, "varchar(20)", "'x'", "string", "x"),
           ("json, jsonb (NocoDB JSON, Directus json)", "string", "the JSON text as PostgreSQL prints it", "jsonb",
            "'{\"a\": 1}'", "string", '{"a": 1}'),
           ("uuid (Directus, Supabase keys)", "string", _SCANNED, "uuid", "'00000000-0000-0000-0000-000000000001'",
            "string", "00000000-0000-0000-0000-000000000001"),
           ("enum types, inet, cidr, xml, bit(n)", "string", "their text", "inet", "'10.0.0.1'", "string",
            "10.0.0.1/32"),
           ("date", "date32[day]", _SCANNED, "date", "'2024-01-02'", "date32[day]", "2024-01-02"),
           ("time", "time64[us]", _SCANNED, "time", "'10:11:12'", "time64[us]", "10:11:12"),
           ("time with time zone", "string", "text: the scanner drops the offset", "timetz", "'10:11:12+02'",
            "string", "10:11:12+02"),
           ("timestamp (NocoDB created_at/updated_at)", "timestamp[us]", "wall time; the table's `timezone` says "
            "of which zone", "timestamp", "'2024-01-02 03:04:05.123456'", "timestamp[us]",
            "2024-01-02 03:04:05.123456"),
           ("timestamptz (Directus date_created)", "timestamp[us, tz=UTC]", "UTC instant", "timestamptz",
            "'2024-01-02 03:04:05+02'", "timestamp[us, tz=UTC]", "2024-01-02 01:04:05+00:00"),
           ("interval", "string", "text: Parquet has no interval type", "interval", "'1 day 02:00:00'", "string",
            "1 day 02:00:00"),
           ("bytea", "binary", _SCANNED, "bytea", "'\\x0102'::bytea", "binary", "b'\\x01\\x02'"),
           ("arrays (Supabase text[], int[])", "list<...> (CSV: JSON text)", _SCANNED, "text[]", "'{a,b}'",
            "list<l: string>", "['a', 'b']"),
           ),
    *_rows("mysql",
           ("tinyint(1) (NocoDB and Directus checkboxes)", "int8", "as a number: tinyint(1) holds -128..127, and "
            "reading it as a boolean would turn 5 into true", "tinyint(1)", "5", "int8", "5"),
           ("tinyint, smallint, mediumint, int, bigint", "int8 ... int64", _SCANNED, "bigint", "42", "int64", "42"),
           ("unsigned integers", "uint8 ... uint64", _SCANNED, "bigint unsigned", "18000000000000000000", "uint64",
            "18000000000000000000"),
           ("decimal(P,S), P <= 38", "decimal128(P, S)", _SCANNED, "decimal(12,2)", "1234.56", "decimal128(12, 2)",
            "1234.56"),
           ("decimal(P,S), P > 38", "refused; double with `type: float64`", "MySQL cannot cast it inside the "
            "unit's snapshot", "decimal(65,30)", "1.5", "-", "-"),
           ("float, double", "float, double", _SCANNED, "double", "2.5", "double", "2.5"),
           ("bit(1)", "bool", _SCANNED, "bit(1)", "b'1'", "bool", "True"),
           ("bit(n), binary, varbinary, blob", "binary", _SCANNED, "varbinary(8)", "'vb'", "binary", "b'vb'"),
           ("char, varchar, text, enum, set", "string", _SCANNED, "enum('a','b')", "'b'", "string", "b"),
           ("json", "string", _SCANNED, "json", "'{\"a\": 1}'", "string", '{"a": 1}'),
           ("date", "date32[day]", _SCANNED, "date", "'2024-01-02'", "date32[day]", "2024-01-02"),
           ("datetime(n)", "timestamp[us]", "wall time as stored", "datetime(3)", "'2024-01-02 03:04:05.123'",
            "timestamp[us]", "2024-01-02 03:04:05.123000"),
           ("timestamp", "timestamp[us]", "UTC wall time: archival sets the session time zone to UTC",
            "timestamp NULL", "'2024-01-02 03:04:05'", "timestamp[us]", "2024-01-02 03:04:05"),
           ("time", "string", "text: MySQL's time is a duration (-838:59:59 to 838:59:59)", "time", "'30:11:12'",
            "string", "30:11:12"),
           ("year", "int32", _SCANNED, "year", "2024", "int32", "2024"),
           ),
    *_rows("sqlite",
           ("INTEGER, INT, BIGINT, BOOLEAN (NocoDB Checkbox)", "int64", "SQLite's integers are 64-bit",
            "BOOLEAN", "1", "int64", "1"),
           ("REAL, FLOAT, DOUBLE", "double", _SCANNED, "REAL", "2.5", "double", "2.5"),
           ("NUMERIC, DECIMAL(P,S) (NocoDB Decimal)", "double", "SQLite stores these as 64-bit floats (or integers); "
            "the archive keeps the stored value", "NUMERIC", "12.345", "double", "12.345"),
           ("TEXT, VARCHAR(n), JSON", "string", _SCANNED, "JSON", "'{\"a\":1}'", "string", '{"a":1}'),
           ("DATE", "date32[day]", _SCANNED, "DATE", "'2024-01-02'", "date32[day]", "2024-01-02"),
           ("DATETIME, TIMESTAMP", "timestamp[us]", "wall time; an offset in the text is not applied (store UTC, "
            "as NocoDB and Directus do)", "DATETIME", "'2024-01-02 03:04:05'", "timestamp[us]",
            "2024-01-02 03:04:05"),
           ("TIME", "refused", "the scanner reads it as a timestamp; cast it to TEXT in a view", "TIME",
            "'10:11:12'", "-", "-"),
           ("BLOB, no declared type", "binary", _SCANNED, "BLOB", "x'0102'", "binary", "b'\\x01\\x02'"),
           ),
]


def types_markdown() -> str:
    """docs/types.md (generated: `archival schema --types`)."""
    lines = ["# Source types and archive types", "",
             "Generated from `archival/source/types.py` (`make schemas`); every row is a test",
             "(`tests/source/test_types.py`) that creates such a column, exports it and checks the Arrow type.",
             "A number is never archived as text, and no value changes on its way in: where DuckDB's scanner",
             "would change one, archival reads it another way or refuses the column with the way out.",
             "Each manifest records, per column, the source's own type name and the rule used (`source_schema`).", ""]
    names = {"postgres": "PostgreSQL", "mysql": "MySQL / MariaDB", "sqlite": "SQLite"}
    for engine, title in names.items():
        lines += [f"## {title}", "", "| source type | archive type (Arrow) | how |", "|---|---|---|"]
        lines += [f"| {r.source} | `{r.archive}` | {r.how} |" for r in TYPE_ROWS if r.engine == engine]
        lines.append("")
    lines += ["## Contract checks by family", "",
              "A contract check must fit the column's archive type; `archival validate --connect` reports one that",
              "does not (`min` on text, `regex` on a number) as a spec error, and a unit refuses to start with it.",
              "", "| check | families |", "|---|---|",
              "| `min`, `max` | integer, float, decimal |",
              "| `regex`, `max_length`, `valid_email`, `not_blank` | text |",
              "| `allowed` | text (strings), integer / float / decimal (numbers), boolean (true/false) |",
              "| `type` | the declared family: `int*` integer; `float*` float, decimal, integer; `decimal(P,S)` "
              "decimal or integer, each value fitting P digits with S after the point; `string`, `json`, `uuid` text |",
              ""]
    return "\n".join(lines)
