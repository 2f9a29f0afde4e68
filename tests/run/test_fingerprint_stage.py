"""The fingerprint stage runs the plan's algorithm, and v2 only where every column has its row text."""

from __future__ import annotations

from types import SimpleNamespace

import pyarrow as pa
import pytest

from archival.archive.fingerprint import FingerprintUnavailable
from archival.plan.stages import Fingerprint
from archival.run.pipeline import FACTORIES

FLAT = pa.schema([("id", pa.int64()), ("title", pa.string())])
NESTED = pa.schema([("id", pa.int64()), ("tags", pa.list_(pa.string()))])


def _stage(stage: Fingerprint, schema: pa.Schema):
    run = SimpleNamespace(pii=SimpleNamespace(schema=schema), ctx=SimpleNamespace(tuning=SimpleNamespace(threads=1)),
                          unit=SimpleNamespace(id="d.t/2026-01"))
    return FACTORIES[Fingerprint](stage, run)


def test_v2_where_every_column_has_a_row_text_else_v1():
    assert _stage(Fingerprint("sum-xxh3-text-v2", kept=False), FLAT).algorithm == "sum-xxh3-text-v2"
    assert _stage(Fingerprint("sum-xxh3-text-v2", kept=False), NESTED).algorithm == "sum-md5-json-v1"
    assert _stage(Fingerprint("sum-md5-json-v1"), FLAT).algorithm == "sum-md5-json-v1"


def test_a_v2_period_cannot_take_a_nested_column_in_a_delta():
    with pytest.raises(FingerprintUnavailable, match=r"d\.t/2026-01: .*sum-xxh3-text-v2.*nested or interval.*--refresh"
                       ) as refused:
        _stage(Fingerprint("sum-xxh3-text-v2", kept=True), NESTED)
    assert "column(s) tags " in str(refused.value)  # names the column

