"""Part files: fixed row groups, deterministic bytes (a rerun adopts what a crashed run published),
dictionary encoding only where values repeat."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from archival.write.parts import PartWriter, dictionary_columns


def _rows(start: int, n: int) -> pa.RecordBatch:
    ids = list(range(start, start + n))
    return pa.record_batch({"id": pa.array(ids, pa.int64()),
                            "status": pa.array([("open", "closed", "new")[i % 3] for i in ids]),
                            "title": pa.array([f"ticket {i}" for i in ids]),
                            "tags": pa.array([{"k": i % 2} for i in ids])})


def _write(folder, batches, **sizes) -> list:
    writer = PartWriter(folder, "parquet", batches[0].schema, **{"target_file_bytes": 1 << 30,
                                                                  "row_group_rows": 1000, **sizes})
    for batch in batches:
        writer.write(batch)
    return writer.close()


def test_same_rows_in_other_batches_give_identical_bytes(tmp_path):
    a = _write(tmp_path / "a", [_rows(0, 2500)])
    b = _write(tmp_path / "b", [_rows(0, 700), _rows(700, 1100), _rows(1800, 700)])
    assert [p.sha256 for p in a] == [p.sha256 for p in b]
    meta = pq.ParquetFile(a[0].path).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [1000, 1000, 500]


def test_dictionary_only_for_repeating_flat_columns(tmp_path):
    group = pa.Table.from_batches([_rows(0, 1000)])
    assert dictionary_columns(group) == ["status"]
    part = _write(tmp_path, [_rows(0, 3000)])[0]
    meta = pq.ParquetFile(part.path).metadata.row_group(2)
    encodings = {meta.column(i).path_in_schema: meta.column(i).encodings for i in range(meta.num_columns)}
    assert any("DICTIONARY" in e for e in encodings["status"])
    assert not any("DICTIONARY" in e for e in encodings["title"])
    assert pq.read_table(part.path).equals(pa.Table.from_batches([_rows(0, 3000)]))


def test_file_closes_after_the_group_that_passes_the_target(tmp_path):
    parts = _write(tmp_path, [_rows(0, 5000)], target_file_bytes=1)
    assert [p.rows for p in parts] == [1000] * 5
    assert sum(pq.ParquetFile(p.path).metadata.num_rows for p in parts) == 5000


def test_an_encoding_error_surfaces_and_abort_leaves_nothing(tmp_path, monkeypatch):
    real = pq.ParquetWriter.write_table
    calls = []

    def failing(self, table, *args, **kwargs):
        calls.append(table.num_rows)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing)
    writer = PartWriter(tmp_path, "parquet", _rows(0, 1).schema, target_file_bytes=1 << 30, row_group_rows=1000)
    with pytest.raises(OSError, match="disk full"):
        for start in range(0, 5000, 500):  # the second group fails on the encoder thread; a later call says so
            writer.write(_rows(start, 500))
        writer.close()
    writer.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_digest_taken_while_writing_is_the_finished_files(tmp_path, fmt):
    """Each part's sha256 is hashed group by group as the file grows (GrowingFileDigest): it must be
    the sha256 of the bytes on disk, for one part and for several."""
    for target in (1 << 30, 4000):
        writer = PartWriter(tmp_path / f"{fmt}-{target}", fmt, _rows(0, 1).schema.remove(3),
                            target_file_bytes=target, row_group_rows=700)
        for start in range(0, 6000, 450):
            writer.write(_rows(start, 450).drop_columns(["tags"]))
        parts = writer.close()
        assert (len(parts) > 1) == (target < 1 << 20)
        assert [p.sha256 for p in parts] == [hashlib.sha256(p.path.read_bytes()).hexdigest() for p in parts]
