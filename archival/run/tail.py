"""The second half of a big unit's stream on a thread of its own. The unit's thread reads and checks
(read, contract: most of it waits on the source's protocol decoding in DuckDB) while this thread
applies PII, feeds the fingerprint and hands groups to the part writer (polars and Arrow, which
release the GIL), so the two halves overlap on two cores instead of taking turns (5M rows: 11.9 ->
10.2 s, docs/performance.md).

Batches reach the tail in the order read and one thread takes them in that order, so files stay
byte-identical to a single-thread run. At most DEPTH batches wait between the halves: a slow tail
(a stalled upload that holds the part writer) makes the reader wait, memory stays bounded.

Failure either way ends both halves: an error in the tail is raised in the reader at its next batch
or at finish; a reader that fails cancels the tail (after its own blocking points were released:
run/pipeline.py closes the upload spool first), and only then are the stages closed."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

import pyarrow as pa

DEPTH = 2  # batches between the halves: enough to keep both busy, bounded memory
WAIT_SLICE_SECONDS = 0.5  # how often a waiting reader looks at the stop request
JOIN_SECONDS = 30.0  # a cancelled tail finishes the call it is in (a polars or Arrow step): seconds at most


class StreamTail:
    def __init__(self, feed: Callable[[pa.RecordBatch], None], finish: Callable[[], None],
                 stopped: Callable[[], BaseException | None], name: str):
        """`feed`: one batch through the tail's stages; `finish`: their remainders, in order (both run on
        the tail's thread). `stopped`: the exception to raise in a waiting reader when the run is asked
        to stop."""
        self._feed, self._finish, self._stopped = feed, finish, stopped
        self._queue: deque[pa.RecordBatch] = deque()
        self._changed = threading.Condition()
        self._error: BaseException | None = None
        self._ending = self._cancelled = self._done = False
        self._thread = threading.Thread(target=self._run, name=f"archival-tail {name}", daemon=True)
        self._thread.start()

    def put(self, batch: pa.RecordBatch) -> None:
        """Hand a batch over; waits while DEPTH batches are waiting. The tail's error is raised here."""
        with self._changed:
            while len(self._queue) >= DEPTH and self._error is None:
                self._changed.wait(WAIT_SLICE_SECONDS)
                stop = self._stopped()
                if stop is not None:
                    raise stop
            if self._error is not None:
                raise self._error
            self._queue.append(batch)
            self._changed.notify_all()

    def finish(self) -> None:
        """No more batches: waits until the tail has fed and finished everything (its error is raised)."""
        with self._changed:
            self._ending = True
            self._changed.notify_all()
            while not self._done and self._error is None:
                self._changed.wait(WAIT_SLICE_SECONDS)
            if self._error is not None:
                raise self._error

    def cancel(self) -> bool:
        """The unit failed: drop what waits, let the tail end the call it is in. True when it has ended,
        so its stages may be closed."""
        with self._changed:
            self._cancelled = True
            self._queue.clear()
            self._changed.notify_all()
        self._thread.join(JOIN_SECONDS)
        return not self._thread.is_alive()

    def _next(self) -> pa.RecordBatch | None:
        """The next batch, or None when the stream has ended (or was cancelled: then nothing finishes)."""
        with self._changed:
            while not self._queue and not self._ending and not self._cancelled:
                self._changed.wait()
            if self._cancelled or not self._queue:
                return None
            batch = self._queue.popleft()
            self._changed.notify_all()
            return batch

    def _run(self) -> None:
        try:
            while (batch := self._next()) is not None:
                self._feed(batch)
            if not self._cancelled:
                self._finish()
        except BaseException as exc:  # noqa: BLE001 - handed to the reader, which raises it: the unit fails
            with self._changed:
                self._error = exc
                self._changed.notify_all()
            return
        with self._changed:
            self._done = True
            self._changed.notify_all()
