"""PII rules on Arrow batches. `drop` columns are never even read (the extract stage leaves them out);
`hash` is HMAC-SHA256 with the project's key (so values stay joinable but cannot be reversed or
brute-forced without the key); `mask` keeps the first character (and an email's domain)."""

from __future__ import annotations

import hashlib
import hmac

import pyarrow as pa

from archival.spec.model import Table


def hash_value(key: bytes, value: object) -> str:
    return hmac.new(key, str(value).encode("utf-8"), hashlib.sha256).hexdigest()


def mask_value(value: object) -> str:
    text = str(value)
    local, at, domain = text.partition("@")
    if at:
        return f"{local[:1]}***@{domain}"
    return f"{text[:1]}***" if text else ""


def transformed_schema(schema: pa.Schema, table: Table) -> pa.Schema:
    rules = {c.name: c.pii for c in table.columns if c.pii in ("hash", "mask")}
    fields = [pa.field(f.name, pa.string(), f.nullable) if f.name in rules else f for f in schema]
    return pa.schema(fields)


def apply_pii(batch: pa.RecordBatch, table: Table, key: bytes | None) -> pa.RecordBatch:
    rules = {c.name: c.pii for c in table.columns if c.pii in ("hash", "mask")}
    if not rules:
        return batch
    arrays = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        rule = rules.get(name)
        if rule is None:
            arrays.append(column)
            continue
        if rule == "hash":
            if key is None:
                raise ValueError(f"{table.qualified_name}.{name}: pii hash needs pii.hash_key")
            values = [None if v is None else hash_value(key, v) for v in column.to_pylist()]
        else:
            values = [None if v is None else mask_value(v) for v in column.to_pylist()]
        arrays.append(pa.array(values, pa.string()))
    return pa.RecordBatch.from_arrays(arrays, schema=transformed_schema(batch.schema, table))
