"""Run locks: all of a run's tables or none, asked at once (on S3 each a round trip), released only
where the lock is still the run's own, and taken over from a run whose process is gone."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import pytest

from archival.archive.locks import LockHeld, TableLocks, lock_path
from archival.archive.store import LocalStore

TABLES = [f"shop.t{i}" for i in range(8)]


class SlowStore(LocalStore):
    """Each create waits a little, and the store counts how many were on their way at once."""

    def __init__(self, root) -> None:
        super().__init__(root)
        self._lock = threading.Lock()
        self.now = self.most = 0

    def put_new(self, path: str, data: bytes) -> bool:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(0.05)
            return super().put_new(path, data)
        finally:
            with self._lock:
                self.now -= 1


def _lock_of(run_id: str, pid: int, expires: float | None = None) -> bytes:
    return json.dumps({"run_id": run_id, "host": socket.gethostname(), "pid": pid, "since": "2026-11-27T10:00:00+00:00",
                       "expires": expires if expires is not None else time.time() + 600}).encode()


def test_the_locks_are_asked_at_once_and_released(tmp_path):
    store = SlowStore(tmp_path / "archive")
    with TableLocks(store, "run-a", TABLES):
        assert all(store.exists(lock_path(t)) for t in TABLES)
        assert store.most > 1  # not one after another
    assert not any(store.exists(lock_path(t)) for t in TABLES)


def test_one_table_held_by_a_live_run_refuses_them_all_and_keeps_none(tmp_path):
    store = SlowStore(tmp_path / "archive")
    store.put_new(lock_path("shop.t3"), _lock_of("run-b", os.getpid()))  # alive: this very process
    with pytest.raises(LockHeld, match="shop.t3 is locked by run run-b"):
        TableLocks(store, "run-a", TABLES).acquire()
    assert [t for t in TABLES if store.exists(lock_path(t))] == ["shop.t3"]  # the other run's, untouched
    assert json.loads(store.read_bytes(lock_path("shop.t3")))["run_id"] == "run-b"


def test_a_lock_taken_over_meanwhile_is_not_released(tmp_path):
    store = LocalStore(tmp_path / "archive")
    locks = TableLocks(store, "run-a", TABLES).acquire()
    store.replace(lock_path("shop.t5"), _lock_of("run-b", os.getpid()))  # ours expired; run-b took it
    locks.release()
    assert [t for t in TABLES if store.exists(lock_path(t))] == ["shop.t5"]


def test_a_lock_whose_process_is_gone_is_taken_over(tmp_path):
    store = LocalStore(tmp_path / "archive")
    gone = os.fork()
    if gone == 0:
        os._exit(0)
    os.waitpid(gone, 0)
    store.put_new(lock_path("shop.t1"), _lock_of("run-dead", gone))
    store.put_new(lock_path("shop.t2"), _lock_of("run-old", os.getpid(), expires=time.time() - 1))  # expired
    with TableLocks(store, "run-a", TABLES):
        assert {json.loads(store.read_bytes(lock_path(t)))["run_id"] for t in TABLES} == {"run-a"}
