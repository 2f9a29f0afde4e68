"""The one way archived rows are read back (the engine's delta and delete checks, verify --deep,
reconcile, relations; restore later). The format of every file comes from its manifest: data files
are Parquet or gzipped CSV (`format`), read with the manifest's schema when CSV so that values come
back with the types they were written with; tombstones and quarantine files are always Parquet.

Files of several formats, or CSV files written under several schemas (drift), are read one group at
a time and united by column name, so a caller sees one relation whatever the archive holds."""

from __future__ import annotations

import re
from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from archival.archive.encryption import ParquetKey, register_keys
from archival.archive.manifest import FileEntry, Manifest, SchemaColumn
from archival.archive.store import ArchiveStore, LocalStore
from archival.spec.model import FileFormat
from archival.sql import quote_ident, sql_literal

_ARROW_TO_DUCKDB = [(r"^int8$", "TINYINT"), (r"^int16$", "SMALLINT"), (r"^int32$", "INTEGER"), (r"^int64$", "BIGINT"),
                    (r"^uint8$", "UTINYINT"), (r"^uint16$", "USMALLINT"), (r"^uint32$", "UINTEGER"),
                    (r"^uint64$", "UBIGINT"), (r"^(float|halffloat)$", "FLOAT"), (r"^double$", "DOUBLE"),
                    (r"^bool$", "BOOLEAN"), (r"^(string|large_string)$", "VARCHAR"), (r"^date32", "DATE"),
                    (r"^timestamp\[\w+, tz=", "TIMESTAMPTZ"), (r"^timestamp", "TIMESTAMP"), (r"^time64", "TIME"),
                    (r"^decimal128\((\d+), (\d+)\)$", r"DECIMAL(\1,\2)"), (r"^(binary|large_binary)$", "BLOB")]


def duckdb_type(arrow_type: str) -> str:
    for pattern, duck_type in _ARROW_TO_DUCKDB:
        if re.match(pattern, arrow_type):
            return re.sub(pattern, duck_type, arrow_type) if "\\" in duck_type else duck_type
    return "VARCHAR"


@dataclass(frozen=True)
class ArchivedFile:
    """An archived file on local disk, with what reading it needs: its format and, for CSV, the
    column types the manifest recorded."""

    path: Path | str  # a local path, or a URL DuckDB reads itself (s3://)
    format: FileFormat
    columns: tuple[SchemaColumn, ...] = ()
    key: ParquetKey | None = None  # an encrypted Parquet file's data key


class ArchiveReader:
    """Archived files of manifests, fetched to local disk for as long as `stack` lasts (a local
    archive is read in place). `remote`: an S3 archive's files are named by their s3:// URL instead,
    for a DuckDB with the httpfs extension (the query views) to read where they are."""

    def __init__(self, store: ArchiveStore, stack: ExitStack, remote: bool = False):
        self.store, self.stack, self.remote = store, stack, remote and not isinstance(store, LocalStore)
        self.encrypted = 0  # encrypted files handed out (their keys live in the connections that read them)

    def file(self, entry: FileEntry, fmt: FileFormat, columns: tuple[SchemaColumn, ...]) -> ArchivedFile:
        """An encrypted file is fetched even for a remote reader: its data key is in its footer."""
        if self.remote and not entry.key:
            return ArchivedFile(self.store.uri(entry.path), fmt, columns)
        local = self.stack.enter_context(self.store.local_copy(entry.path))
        key = self.store.keys.unlock(local, shown=entry.path) if fmt == "parquet" else None
        self.encrypted += key is not None
        return ArchivedFile(local, fmt, columns, key)

    def data(self, manifests: Iterable[Manifest]) -> list[ArchivedFile]:
        """Each file with its own schema: the manifest's, or the one it was written with before a drift."""
        return [self.file(f, m.format, tuple(f.columns or m.columns)) for m in manifests for f in m.files]

    def tombstones(self, manifests: Iterable[Manifest]) -> list[ArchivedFile]:
        return [self.file(f, "parquet", ()) for m in manifests for f in m.tombstones]

    def quarantined(self, manifests: Iterable[Manifest]) -> list[ArchivedFile]:
        return [self.file(f, "parquet", ()) for m in manifests for f in m.quarantine]


def rows_sql(files: list[ArchivedFile], columns: list[str] | None = None, filename: bool = False, *, con) -> str:
    """A DuckDB query over all `files` (at least one), with `columns` or all of them; `filename`: and
    a `filename` column naming each row's file as given. `con` is the connection that will run it: it
    learns the data keys of encrypted files here, so no caller can forget them."""
    if not files:
        raise ValueError("rows_sql needs at least one file")
    register_keys(con, [f.key for f in files if f.key])
    groups: dict[tuple, list[ArchivedFile]] = {}
    for f in files:
        groups.setdefault((f.format, f.columns if f.format == "csv" else (), f.key), []).append(f)
    projection = ", ".join(quote_ident(c) for c in columns) if columns else "*"
    if filename and columns:
        projection += ", filename"
    parts = [f"SELECT {projection} FROM {_reader(fmt, [str(f.path) for f in group], schema, filename, key)}"
             for (fmt, schema, key), group in groups.items()]
    return " UNION ALL BY NAME ".join(parts)


def _reader(fmt: FileFormat, paths: list[str], schema: tuple[SchemaColumn, ...], filename: bool = False,
            key: ParquetKey | None = None) -> str:
    listed = "[" + ", ".join(sql_literal(p) for p in paths) + "]"
    named = ", filename=true" if filename else ""
    if fmt == "parquet":
        # the folder names carry period=...: without this DuckDB would add it as a column
        if key:  # one file per key; DuckDB 1.5.5 fails on an encrypted file read with union_by_name
            return (f"read_parquet({listed}, hive_partitioning=false{named}, "
                    f"encryption_config={{footer_key: {sql_literal(key.name)}}})")
        return f"read_parquet({listed}, hive_partitioning=false, union_by_name=true{named})"
    types = ", ".join(f"{sql_literal(c.name)}: {sql_literal(duckdb_type(c.type))}" for c in schema)
    return f"read_csv({listed}, header=true, hive_partitioning=false, columns={{{types}}}{named})"
