"""Run locks: one lease per table of a target, `_locks/<domain>/<table>.json`, naming the run that
holds it (run id, host, pid, since, expires). A run takes the locks of every table it may write
before it plans, so two runs never write one table at once and a run may repair what an interrupted
one left (archive/leftovers.py) knowing no live writer is at work there.

A lease is renewed by a heartbeat while the run lives. A lock is taken over when it has expired, or at
once when its holder ran on this host and its process is gone (a run killed by SIGKILL or the OOM
killer). Taking over is create-only: two runs racing for a stale lock cannot both win.

Locks are not archive data: they are the only objects archival replaces and deletes."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from archival.archive.round_trips import at_once
from archival.archive.store import ArchiveConflict, ArchiveStore

LEASE_SECONDS = 600


class LockHeld(Exception):
    """Another live run holds a table's lock."""


@dataclass(frozen=True)
class Holder:
    run_id: str
    host: str
    pid: int
    since: str
    expires: float

    def alive(self, now: float) -> bool:
        if self.expires < now:
            return False
        if self.host == socket.gethostname():
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                return True
        return True

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.host}, pid {self.pid}, started {self.since})"


def lock_path(table: str) -> str:
    domain, name = table.split(".", 1)
    return f"_locks/{domain}/{name}.json"


class TableLocks:
    def __init__(self, store: ArchiveStore, run_id: str, tables: list[str], lease: float = LEASE_SECONDS):
        self.store, self.run_id, self.tables, self.lease = store, run_id, sorted(set(tables)), lease
        self.since = datetime.now(UTC).isoformat(timespec="seconds")
        self._held: list[str] = []
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def _body(self) -> bytes:
        return json.dumps({"run_id": self.run_id, "host": socket.gethostname(), "pid": os.getpid(),
                           "since": self.since, "expires": time.time() + self.lease}).encode()

    def _holder(self, path: str) -> Holder | None:
        try:
            data = json.loads(self.store.read_bytes(path))
            return Holder(data["run_id"], data["host"], int(data["pid"]), data["since"], float(data["expires"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # vanished, or damaged: a damaged lock protects nothing and is taken over

    def acquire(self) -> TableLocks:
        """All locks or none: LockHeld names a holder. They are asked at once (on S3 each a round trip:
        a run of 100 tables waited for 100 in a row before it planned, and as many again at its end).
        A run never waits for a lock, so none can deadlock; two runs starting together on overlapping
        tables may both be refused, each naming the other, and neither writes."""
        try:
            at_once(self._take, self.tables)
        except BaseException:
            self.release()
            raise
        self._beat = threading.Thread(target=self._renew, name="archival-lock-heartbeat", daemon=True)
        self._beat.start()
        return self

    def _take(self, table: str) -> None:
        path = lock_path(table)
        for _ in range(5):
            try:
                if self.store.put_new(path, self._body()):
                    self._held.append(path)
                    return
            except ArchiveConflict:
                pass
            holder = self._holder(path)
            if holder is not None and holder.run_id != self.run_id and holder.alive(time.time()):
                raise LockHeld(f"{table} is locked by {holder}: another run is writing it; try again when it "
                               "has finished")
            self.store.delete(path)  # stale: expired, or its process is gone
        raise LockHeld(f"{table}: could not take its lock (other runs keep taking it)")

    def _renew(self) -> None:
        while not self._stop.wait(self.lease / 3):
            for path in list(self._held):
                self.store.replace(path, self._body())

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        held, self._held = self._held, []
        at_once(self._release, held)

    def _release(self, path: str) -> None:
        holder = self._holder(path)
        if holder is None or holder.run_id == self.run_id:  # expired and taken over: not ours to delete
            self.store.delete(path)

    def __enter__(self) -> TableLocks:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
