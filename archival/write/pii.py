"""PII rules on Arrow batches, vectorized in DuckDB. `drop` columns are never even read (the extract
stage leaves them out). `hash` is HMAC-SHA256 with the project's key over the value's text (DuckDB
cast to VARCHAR), written as 64 hex digits: joinable across tables, not reversible, and not
brute-forceable without the key. `mask` keeps the first character, and an email's domain.

The HMAC is computed as sha256(opad(key) || sha256(ipad(key) || value)) with the pads built here,
so the key never appears in SQL text, only its XOR pads as bytes literals."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import duckdb
import pyarrow as pa

from archival.chunks import arrow_chunks
from archival.spec.model import Table
from archival.sql import quote_ident

BLOCK = 64  # SHA-256 block size


def hash_value(key: bytes, value: object) -> str:
    """Reference implementation (tests cross-check the SQL against it)."""
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def _blob(data: bytes) -> str:
    return "'" + "".join(f"\\x{b:02X}" for b in data) + "'::BLOB"


def _pads(key: bytes) -> tuple[bytes, bytes]:
    k = (hashlib.sha256(key).digest() if len(key) > BLOCK else key).ljust(BLOCK, b"\0")
    return bytes(b ^ 0x36 for b in k), bytes(b ^ 0x5C for b in k)


def hash_sql(column: str, key: bytes) -> str:
    ipad, opad = _pads(key)
    text = f"CAST({column} AS VARCHAR)"
    return f"sha256({_blob(opad)} || unhex(sha256({_blob(ipad)} || encode({text}))))"


def mask_sql(column: str) -> str:
    text = f"CAST({column} AS VARCHAR)"
    return (f"CASE WHEN {text} IS NULL THEN NULL WHEN strpos({text}, '@') > 0 "
            f"THEN left({text}, 1) || '***@' || substr({text}, strpos({text}, '@') + 1) "
            f"WHEN {text} = '' THEN '' ELSE left({text}, 1) || '***' END")


def transformed_schema(schema: pa.Schema, table: Table) -> pa.Schema:
    rules = {c.name for c in table.columns if c.pii in ("hash", "mask")}
    return pa.schema([pa.field(f.name, pa.string(), f.nullable) if f.name in rules else f for f in schema])


class PiiTransform:
    """Applies a table's hash/mask rules to each batch; a no-op when the table has none."""

    def __init__(self, table: Table, schema: pa.Schema, key: bytes | None, threads: int = 2):
        rules = {c.name: c.pii for c in table.columns if c.pii in ("hash", "mask") and c.name in schema.names}
        self.schema = transformed_schema(schema, table)
        self.active = bool(rules)
        if not self.active:
            return
        if key is None and "hash" in rules.values():
            raise ValueError(f"{table.qualified_name}: pii hash needs pii.hash_key")
        exprs = []
        for name, rule in rules.items():
            col = quote_ident(name)
            if rule == "hash":
                exprs.append(f"CASE WHEN {col} IS NULL THEN NULL ELSE {hash_sql(col, key)} END AS {col}")  # type: ignore[arg-type]
            else:
                exprs.append(f"{mask_sql(col)} AS {col}")
        # only the rule columns go through DuckDB; the others stay as they are, no round trip
        self.rule_columns = list(rules)
        self.sql = f"SELECT {', '.join(exprs)} FROM pii_batch"
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {int(threads)}")
        self.con.execute("SET preserve_insertion_order = true")  # rows stay in key order

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if not self.active or batch.num_rows == 0:
            return batch
        self.con.register("pii_batch", arrow_chunks(batch.select(self.rule_columns)))  # HMACs on every thread
        out = self.con.execute(self.sql).to_arrow_table()
        self.con.unregister("pii_batch")
        columns = {name: out.column(name).combine_chunks().cast(pa.string()) for name in self.rule_columns}
        return pa.RecordBatch.from_arrays([columns.get(f.name, batch.column(i)) for i, f in enumerate(batch.schema)],
                                          schema=self.schema)

    name = "pii"

    def feed(self, batch: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        yield self.apply(batch)

    def finish(self) -> Iterator[pa.RecordBatch]:
        return iter(())

    def close(self) -> None:
        if self.active:
            self.con.close()
            self.active = False
