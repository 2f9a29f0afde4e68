"""Uploads that overlap the read. A unit writing a period that has no version yet will publish every
part it writes (there is nothing to compare its rows with), so each part goes to the target as soon
as it is complete, while the unit reads on, instead of all after the read. Parts wait on local disk
(the spool) until uploaded; when the bytes waiting reach `max_bytes`, the writer blocks until the
uploads catch up, so a slow or stalled endpoint slows the reader (back-pressure) and never grows
memory or disk beyond the bound.

The names are the ones the record stage publishes (index and sha256: archive/layout.py), so the
record stage finds these files uploaded and adopts them; nothing names them until the manifest
does. A unit that fails after some uploads leaves them where a crash would: its retry, or the next
run, finds the same content at the same names and adopts it, or sets them aside (record/orphans.py)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from archival.archive import layout
from archival.archive.manifest import FileEntry
from archival.archive.store import ArchiveStore
from archival.write.parts import LocalPart

WAIT_SLICE_SECONDS = 0.5  # how often a blocked writer looks at the stop request
CLOSE_WAIT_SECONDS = 5.0


class SpoolClosed(Exception):
    """A part offered after the spool was closed: its unit has already failed."""


@dataclass(frozen=True)
class SpoolTarget:
    """Where and how the parts go: the period's folder, the files' extension, the table's tier and
    the object lock's retention."""

    store: ArchiveStore
    folder: str
    extension: str
    tier: str | None
    lock_until: datetime | None


class UploadSpool:
    def __init__(self, target: SpoolTarget, max_bytes: int, stopped: Callable[[], BaseException | None]):
        """`stopped`: the exception to raise in a blocked writer when the run is asked to stop."""
        self.target, self.max_bytes, self.stopped = target, max_bytes, stopped
        self.uploaded: dict[str, FileEntry] = {}  # sha256 -> entry, as each upload completes
        self.waiting_bytes = 0
        self.peak_waiting_bytes = 0  # what the bound held (tests, the bench)
        self._queue: deque[tuple[int, LocalPart]] = deque()
        self._offered = 0
        self._error: BaseException | None = None
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._upload_all, name="archival-spool", daemon=True)
        self._thread.start()

    def offer(self, part: LocalPart) -> None:
        """A complete part (called by the part writer in file order); blocks while the bound is full."""
        with self._changed:
            while (self.waiting_bytes and self.waiting_bytes + part.bytes > self.max_bytes and self._error is None
                   and not self._closing):
                self._changed.wait(WAIT_SLICE_SECONDS)
                stop = self.stopped()
                if stop is not None:
                    raise stop
            if self._error is not None:
                raise self._error
            if self._closing:  # the unit failed elsewhere (run/tail.py): this part is not uploaded
                raise SpoolClosed(f"{part.path.name}: the unit ended before this part could be uploaded")
            self._queue.append((self._offered, part))
            self._offered += 1
            self.waiting_bytes += part.bytes
            self.peak_waiting_bytes = max(self.peak_waiting_bytes, self.waiting_bytes)
            self._changed.notify_all()

    def finish(self) -> dict[str, FileEntry]:
        """Every offered part uploaded (the first upload error is raised): sha256 -> its entry."""
        with self._changed:
            while (self._queue or self.waiting_bytes) and self._error is None:
                self._changed.wait(WAIT_SLICE_SECONDS)
            if self._error is not None:
                raise self._error
        return dict(self.uploaded)

    def close(self) -> None:
        """Stop after the upload in progress (a failed unit: what is queued stays on local disk only, and
        a writer waiting for room is let go with SpoolClosed).
        An upload stuck on a stalled endpoint is not waited for beyond CLOSE_WAIT_SECONDS: a stopped
        run ends promptly, and an object that was not complete is not created (a multipart upload
        stays open in its journal, to be resumed or aborted)."""
        with self._changed:
            self._closing = True
            self._queue.clear()
            self._changed.notify_all()
        self._thread.join(timeout=CLOSE_WAIT_SECONDS)

    def _upload_all(self) -> None:
        while True:
            with self._changed:
                while not self._queue and not self._closing:
                    self._changed.wait()
                if self._closing:
                    return
                index, part = self._queue[0]
            try:
                entry = self._upload(index, part)
            except BaseException as exc:  # noqa: BLE001 - handed to the writer, which raises it
                with self._changed:
                    self._error = exc
                    self._changed.notify_all()
                return
            with self._changed:
                self.uploaded[part.sha256] = entry
                if self._closing:  # close() dropped the queue while this part was on its way
                    return
                self._queue.popleft()
                self.waiting_bytes -= part.bytes
                self._changed.notify_all()

    def _upload(self, index: int, part: LocalPart) -> FileEntry:
        t = self.target
        path = f"{t.folder}/{layout.part_name(index, part.sha256, t.extension)}"
        t.store.put_file(path, part.path, part.sha256, tier=t.tier, lock_until=t.lock_until)
        return FileEntry(path=path, rows=part.rows, bytes=part.bytes, sha256=part.sha256, key=part.key)
