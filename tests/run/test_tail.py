"""The stream's tail on a thread of its own (run/tail.py): batches keep their order, at most DEPTH
wait between the halves, an error on either side ends both, a stop lets a waiting reader go. Against
PostgreSQL: a unit exported with the tail writes the same bytes (data, quarantine, fingerprint) as
one exported on one thread, with PII hashed and invalid rows set aside by the reader meanwhile."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest

from archival.archive.fingerprint import RowFingerprint
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.check import contract
from archival.extract.rows_read import RowsRead
from archival.run import pipeline, tail
from archival.run.context import Tuning
from archival.run.tail import DEPTH, StreamTail
from archival.write.parts import PartsStage
from tests.conftest import blobs_project, write_project
from tests.run.helpers import archive_files, run_units


def _batch(n: int) -> pa.RecordBatch:
    return pa.record_batch({"n": [n]})


def _tail(feed, finish=lambda: None, stopped=lambda: None) -> StreamTail:
    return StreamTail(feed, finish, stopped, "t")


def test_batches_reach_the_tail_in_order_and_finish_comes_last():
    seen: list[object] = []
    tail = _tail(lambda b: seen.append(b.column(0)[0].as_py()), lambda: seen.append("finish"))
    for n in range(50):
        tail.put(_batch(n))
    tail.finish()
    assert seen == [*range(50), "finish"]
    assert tail.cancel()  # after a finish: nothing left, the thread has ended


def test_a_slow_tail_holds_the_reader_after_depth_batches():
    release = threading.Event()
    tail = _tail(lambda b: release.wait())
    handed: list[int] = []

    def reader() -> None:
        for n in range(10):
            tail.put(_batch(n))
            handed.append(n)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10  # a busy machine may be slow to get there; it must not go further
    while len(handed) < DEPTH + 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert thread.is_alive() and len(handed) == DEPTH + 1  # one in the tail's hands, DEPTH waiting
    release.set()
    thread.join(10)
    tail.finish()
    assert handed == list(range(10))


def test_an_error_in_the_tail_is_raised_in_the_reader():
    def feed(batch: pa.RecordBatch) -> None:
        if batch.column(0)[0].as_py() == 3:
            raise ValueError("bad batch 3")

    tail = _tail(feed)
    with pytest.raises(ValueError, match="bad batch 3"):
        for n in range(100):
            tail.put(_batch(n))
        tail.finish()


def test_an_error_in_finish_is_raised_by_finish():
    tail = _tail(lambda b: None, lambda: (_ for _ in ()).throw(OSError("disk full")))
    tail.put(_batch(1))
    with pytest.raises(OSError, match="disk full"):
        tail.finish()


def test_a_cancelled_tail_ends_the_call_it_is_in_and_finishes_nothing():
    release, finished, fed = threading.Event(), [], []
    tail = _tail(lambda b: (fed.append(1), release.wait()), lambda: finished.append(1))
    for n in range(DEPTH + 1):
        tail.put(_batch(n))
    threading.Timer(0.5, release.set).start()
    assert tail.cancel()
    assert fed == [1] and not finished  # the waiting batches were dropped, no stage finished


def test_a_stop_lets_a_waiting_reader_go():
    release, stop = threading.Event(), []
    tail = _tail(lambda b: release.wait(), stopped=lambda: stop[0] if stop else None)
    for n in range(DEPTH + 1):
        tail.put(_batch(n))
    threading.Timer(0.3, lambda: stop.append(KeyboardInterrupt("stop"))).start()
    with pytest.raises(KeyboardInterrupt):
        tail.put(_batch(99))
    release.set()
    assert tail.cancel()


AS_OF = datetime(2027, 2, 1, tzinfo=UTC)
SPEC = """domain: app
owner: o@example.com
source: pg
tables:
  events:
    relation: public.events
    primary_key: [id]
    mode: window
    cursor: at
    period: quarter
    on_invalid: quarantine
    columns:
      body: {pii: hash}
      mail: {pii: mask}
      n: {max: 11}
"""


def _project(folder: Path) -> Path:
    return write_project(folder, "  pg: {type: postgres, dsn: env:TAIL_DSN}", {"app": SPEC},
                         extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")


def test_a_unit_with_its_tail_on_a_thread_writes_the_same_bytes(pg_dsn, tmp_path, monkeypatch):
    with psycopg.connect(pg_dsn, autocommit=True) as con:
        con.execute("CREATE TABLE events AS SELECT g * 3 AS id, "
                    "timestamptz '2026-01-01' + g * interval '3 minutes' AS at, md5(g::text) AS body, "
                    "'u' || g || '@example.com' AS mail, CASE WHEN g % 5 = 0 THEN NULL ELSE g % 13 END AS n "
                    "FROM generate_series(1, 60000) g")
        con.execute("ALTER TABLE events ADD PRIMARY KEY (id)")
    monkeypatch.setenv("TAIL_DSN", pg_dsn)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    tails = []
    original = pipeline.StreamTail.__init__

    def counting(self, *args, **kwargs):
        tails.append(args[3])
        original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline.StreamTail, "__init__", counting)
    archives, fingerprints = {}, {}
    for name, min_rows in (("one-thread", 10**12), ("tail", 0)):
        folder = _project(tmp_path / name)
        tuning = Tuning(batch_rows=1000, row_group_rows=4000, target_file_bytes=256 * 1024, tail_min_rows=min_rows)
        ctx, results = run_units(folder, AS_OF, tuning=tuning)
        assert all(r.outcome == "written" for r in results)
        assert all(("handoff" in r.stages) == (name == "tail") for r in results)
        quarantined = sum(r.details.get("quarantined", 0) for r in results)
        assert quarantined > 3000 and sum(r.rows for r in results) + quarantined == 60000  # n = 12 is over max
        files = archive_files(folder)
        archives[name] = {p: b for p, b in files.items() if "/period=" in p and "_manifests" not in p}
        periods = archived_periods(LocalStore(folder / "archive"), "app", "events")
        fingerprints[name] = {period: a.manifest.fingerprint for period, a in periods.items()}
    assert {"app.events/2026-Q1", "app.events/2026-Q2"} <= set(tails)  # the second export's, on a tail
    assert any("quarantine" in p for p in archives["tail"])
    assert archives["one-thread"] == archives["tail"] and len(archives["tail"]) > 4
    assert fingerprints["one-thread"] == fingerprints["tail"] and len(fingerprints["tail"]) == 4


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_a_tail_that_does_not_end_is_left_open_and_said(tmp_path, monkeypatch):
    """A reader that fails while the tail is stuck in a call beyond JOIN_SECONDS: the unit fails with
    the reader's error at once, a warning names the unit, and the tail's stages are not closed under
    it (the part writer would lose its file mid-write)."""
    folder = blobs_project(tmp_path / "p", "unused", "http://127.0.0.1:9", 6000, 50)
    release, stuck_now, closed, read = threading.Event(), threading.Event(), [], []
    real_feed = RowsRead.feed

    def stuck(self, batch):
        stuck_now.set()
        release.wait(30)
        yield batch

    def failing(self, batch):
        read.append(1)
        if len(read) == 4:
            # only once the tail is in its stuck call: on a busy machine the tail's thread may not have
            # taken a batch yet, and a cancel before it does ends it at once (nothing to leave open)
            assert stuck_now.wait(10)
            raise ConnectionError("source connection lost")
        return real_feed(self, batch)

    monkeypatch.setattr(RowFingerprint, "feed", stuck)
    monkeypatch.setattr(PartsStage, "close", lambda self: closed.append(self))
    monkeypatch.setattr(RowsRead, "feed", failing)
    monkeypatch.setattr(contract, "CHECK_BYTES", 1)  # each batch on to the tail at once
    monkeypatch.setattr(tail, "JOIN_SECONDS", 0.5)
    # the warning is read off the pipeline's own logger: what earlier tests in this process did to
    # logging (a flow's or Dask's configuration, propagation) must not decide whether it is seen
    said, logger = Lines(), logging.getLogger(pipeline.__name__)
    monkeypatch.setattr(logger, "disabled", False)
    prior = logger.level
    logger.addHandler(said)
    logger.setLevel(logging.WARNING)
    started = time.monotonic()
    try:
        with pytest.raises(ConnectionError, match="source connection lost"):
            run_units(folder, AS_OF, tuning=Tuning(batch_rows=500, row_group_rows=500, tail_min_rows=0))
    finally:
        logger.removeHandler(said)
        logger.setLevel(prior)
    assert time.monotonic() - started < 10
    assert "shop.blobs/full: the stream's second half did not end; its stages are left open" in said.lines
    assert not closed
    release.set()


def test_an_error_on_the_tail_fails_the_unit_and_publishes_nothing(tmp_path, monkeypatch):
    """The tail's one broad except only hands the error over: a part writer failing mid-unit on the
    tail's thread must end the unit with that error, with no manifest and no thread left behind."""
    folder = blobs_project(tmp_path / "p", "unused", "http://127.0.0.1:9", 6000, 50)
    real_feed, fed = PartsStage.feed, []

    def failing(self, batch):
        fed.append(threading.current_thread().name)
        if len(fed) == 3:
            raise RuntimeError("encoder broke at part-00002")
        return real_feed(self, batch)

    monkeypatch.setattr(PartsStage, "feed", failing)
    monkeypatch.setattr(contract, "CHECK_BYTES", 1)  # each batch on to the tail at once
    with pytest.raises(RuntimeError, match="part-00002"):
        run_units(folder, AS_OF, tuning=Tuning(batch_rows=500, row_group_rows=500, tail_min_rows=0))
    assert fed and all(name.startswith("archival-tail") for name in fed)  # it did fail on the tail
    archive = folder / "archive"
    assert not [p for p in archive.rglob("*.json") if "_manifests" in p.parts]
    assert not [p for p in archive.rglob("*.parquet")]
    assert not [t for t in threading.enumerate() if t.name.startswith("archival-tail")]
