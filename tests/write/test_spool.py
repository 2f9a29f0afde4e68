"""Uploads during the read (write/spool.py) against moto's S3 over HTTP, through a TCP proxy that can
stall: parts of a new period reach the target while the unit reads; a stalled endpoint makes the
writer (and so the reader) wait once the spool's bound is full, never queueing more; when it flows
again everything is uploaded, the archive is byte-identical to a local export and verifies."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import pytest

import archival.write.spool as spool_module
from archival.archive import layout
from archival.archive.s3 import S3Store
from archival.check import contract
from archival.extract.rows_read import RowsRead
from archival.run.context import Tuning
from archival.verify.check import verify_archive
from archival.write.parts import LocalPart
from archival.write.spool import SpoolClosed, SpoolTarget, UploadSpool
from tests.conftest import blobs_project
from tests.run.helpers import archive_files, run_units
from tests.tcp_proxy import TcpProxy

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
KIB = 1024


@pytest.fixture
def s3(moto_endpoint, monkeypatch):
    """A fresh bucket and a proxy in front of moto: (bucket, proxy endpoint, proxy, client)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1", "ARCHIVAL_PII_KEY": "k" * 32}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    bucket = f"spool-{os.getpid()}-{time.monotonic_ns()}"
    client.create_bucket(Bucket=bucket)
    proxy = TcpProxy(urlsplit(moto_endpoint).port)
    yield bucket, f"http://127.0.0.1:{proxy.port}", proxy, client
    proxy.resume()
    proxy.cut()


def _parts(folder: Path, count: int, size: int) -> list[LocalPart]:
    parts = []
    for i in range(count):
        path = folder / f"part-{i}"
        path.write_bytes(os.urandom(size))
        parts.append(LocalPart(path, 10, size, hashlib.sha256(path.read_bytes()).hexdigest()))
    return parts


def test_a_stalled_endpoint_makes_the_writer_wait_at_the_bound(s3, tmp_path):
    bucket, endpoint, proxy, client = s3
    store = S3Store(boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"), bucket)
    spool = UploadSpool(SpoolTarget(store, "shop/t/period=full", "parquet", None, None), max_bytes=300 * KIB,
                        stopped=lambda: None)
    parts = _parts(tmp_path, 10, 100 * KIB)
    offered: list[int] = []

    def writer() -> None:
        for i, part in enumerate(parts):
            spool.offer(part)
            offered.append(i)

    proxy.pause()  # the endpoint stalls: connections open, nothing moves
    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15  # a busy machine may be slow to get there; it must not go further
    while len(offered) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1)
    assert thread.is_alive() and len(offered) == 3  # three parts wait; the fourth blocks its writer
    assert spool.peak_waiting_bytes == 300 * KIB and not spool.uploaded
    proxy.resume()
    thread.join(timeout=60)
    assert not thread.is_alive() and len(offered) == 10
    entries = spool.finish()
    spool.close()
    assert spool.peak_waiting_bytes <= 300 * KIB
    for index, part in enumerate(parts):
        entry = entries[part.sha256]
        assert entry.path == f"shop/t/period=full/{layout.part_name(index, part.sha256, 'parquet')}"
        body = client.get_object(Bucket=bucket, Key=entry.path)["Body"].read()
        assert body == part.path.read_bytes()


def test_an_upload_error_ends_the_writer(s3, tmp_path):
    bucket, endpoint, proxy, client = s3
    store = S3Store(boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"), "no-such-bucket-here")
    spool = UploadSpool(SpoolTarget(store, "shop/t/period=full", "parquet", None, None), max_bytes=100 * KIB,
                        stopped=lambda: None)
    parts = _parts(tmp_path, 3, 100 * KIB)
    with pytest.raises(Exception, match="NoSuchBucket"):
        for part in parts:
            spool.offer(part)
        spool.finish()
    spool.close()


def _project(folder: Path, bucket: str, endpoint: str) -> Path:
    return blobs_project(folder, bucket, endpoint, 6000, 300)


def test_parts_upload_during_the_read_and_a_stall_holds_the_reader(s3, tmp_path, monkeypatch):
    bucket, endpoint, proxy, client = s3
    folder = _project(tmp_path / "p", bucket, endpoint)
    tuning = Tuning(batch_rows=500, row_group_rows=500, target_file_bytes=64 * KIB, spool_bytes=400 * KIB)
    spools: list[UploadSpool] = []
    offers: list[float] = []
    real_init, real_offer = UploadSpool.__init__, UploadSpool.offer

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        spools.append(self)

    def offer(self, part):
        if not offers:  # the first complete part: the endpoint stalls for 3 s from here
            proxy.pause()
            threading.Timer(3, proxy.resume).start()
        real_offer(self, part)
        offers.append(time.monotonic())

    monkeypatch.setattr(spool_module.UploadSpool, "__init__", init)
    monkeypatch.setattr(spool_module.UploadSpool, "offer", offer)
    ctx, results = run_units(folder, AS_OF, target="s3", tuning=tuning)
    [result] = results
    assert result.outcome == "written" and result.rows == 6000 and result.files >= 10  # parts of about 160 KiB
    assert "upload" in result.stages and result.stages["parts"] >= 2.5  # the writer waited out the stall
    [spool] = spools
    assert spool.peak_waiting_bytes <= 400 * KIB
    during_stall = [t for t in offers if t - offers[0] < 2.5]
    assert len(during_stall) <= 3 < result.files  # the reader waited instead of queueing every part
    assert verify_archive(ctx.store, deep=True).ok

    # the same rows to a local target give the same files, byte for byte
    local_ctx, local = run_units(folder, AS_OF, target="local", tuning=tuning)
    objects = {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
               for o in client.list_objects_v2(Bucket=bucket, Prefix="shop/blobs/period=")["Contents"]}
    files = {k: v for k, v in archive_files(folder).items() if k.startswith("shop/blobs/period=")}
    data = lambda found: {k: v for k, v in found.items() if k.endswith(".parquet")}  # noqa: E731
    assert data(objects) == data(files) and len(data(files)) == result.files

    # the period has a version now: the rerun compares first, and publishes (and uploads) nothing
    spools.clear()
    _, again = run_units(folder, AS_OF, target="s3", tuning=tuning)
    assert [r.outcome for r in again] == ["unchanged"] and not spools


def test_a_stop_while_the_endpoint_stalls_ends_the_writer_promptly(s3, tmp_path):
    bucket, endpoint, proxy, client = s3
    store = S3Store(boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1"), bucket)
    stop: list[BaseException] = []
    spool = UploadSpool(SpoolTarget(store, "shop/t/period=full", "parquet", None, None), max_bytes=100 * KIB,
                        stopped=lambda: stop[0] if stop else None)
    parts = _parts(tmp_path, 3, 100 * KIB)
    proxy.pause()
    spool.offer(parts[0])  # taken by the uploader, which stalls
    threading.Timer(1, lambda: stop.append(InterruptedError("asked to stop"))).start()
    started = time.monotonic()
    with pytest.raises(InterruptedError):
        spool.offer(parts[1])  # waits for room, then sees the stop
    spool.close()  # does not wait for the stalled upload beyond its bound
    assert time.monotonic() - started < 10


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_reader_that_fails_while_the_tail_waits_for_upload_room_ends_the_unit(s3, tmp_path, monkeypatch):
    """With the stream's tail on its own thread (run/tail.py), the part writer can be waiting for the
    spool's room when the reader fails: closing the spool lets it go, so the unit fails in seconds,
    with the reader's error, and publishes nothing."""
    bucket, endpoint, proxy, client = s3
    folder = _project(tmp_path / "p", bucket, endpoint)
    tuning = Tuning(batch_rows=500, row_group_rows=500, target_file_bytes=64 * KIB, spool_bytes=200 * KIB,
                    tail_min_rows=0)
    refused: list[BaseException] = []
    closed: list[UploadSpool] = []
    real_offer, real_close, real_feed = UploadSpool.offer, UploadSpool.close, RowsRead.feed
    read: list[int] = []

    offering: list[float] = []  # when each offer still in progress began
    failed_at: list[float] = []

    def offer(self, part):
        proxy.pause()  # from the first part on, the endpoint stalls
        began = time.monotonic()
        offering.append(began)
        try:
            real_offer(self, part)
        except BaseException as exc:
            refused.append(exc)
            raise
        finally:
            offering.remove(began)

    def close(self):
        real_close(self)
        closed.append(self)
        proxy.resume()  # the run's lock is released through it afterwards

    def feed(self, batch):
        read.append(batch.num_rows)
        if len(read) == 5:
            # once the tail's part writer has waited for room half a second (a busy machine takes longer
            # to get there than an idle one)
            deadline = time.monotonic() + 20
            while not (offering and time.monotonic() - offering[0] > 0.5) and time.monotonic() < deadline:
                time.sleep(0.05)
            failed_at.append(time.monotonic())
            raise ConnectionError("source connection lost")
        return real_feed(self, batch)

    monkeypatch.setattr(spool_module.UploadSpool, "offer", offer)
    monkeypatch.setattr(spool_module.UploadSpool, "close", close)
    monkeypatch.setattr(RowsRead, "feed", feed)
    monkeypatch.setattr(contract, "CHECK_BYTES", 1)  # each batch its own contract group: on to the tail at once
    with pytest.raises(ConnectionError, match="source connection lost"):  # the reader's error, not the spool's
        run_units(folder, AS_OF, target="s3", tuning=tuning)
    assert time.monotonic() - failed_at[0] < 20  # after the failure: not the tail's JOIN_SECONDS, nor a hang
    assert [type(e) for e in refused] == [SpoolClosed]  # the writer was waiting for room, and was let go
    closed[0]._thread.join(30)  # the upload that was on its way ends quietly (an error would fail the test)
    assert not closed[0]._thread.is_alive()
    listed = client.list_objects_v2(Bucket=bucket).get("Contents", [])
    assert not [o["Key"] for o in listed if o["Key"].endswith("manifest.json")]
