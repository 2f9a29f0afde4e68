"""The archive's copy of the lineage events: one object per event under the run's next free sequence
number, create-only, found without listing the run's events before each one."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

from openlineage.client.event_v2 import Job, Run, RunEvent, RunState

from archival.archive.store import LocalStore
from archival.record.lineage import ArchiveTransport

RUN = "20261127T090000Z-abc123"


class CountingStore(LocalStore):
    """A local archive that counts its listings."""

    def __init__(self, root):
        super().__init__(root)
        self.listings = 0

    def list(self, prefix: str) -> list[str]:
        self.listings += 1
        return super().list(prefix)


def event(name: str) -> RunEvent:
    return RunEvent(eventType=RunState.START, eventTime=datetime.now(UTC).isoformat(),
                    run=Run(runId="0b6f2a8e-6f0c-4c59-9d6e-2a3c8b1f4e11"), job=Job(namespace="archival", name=name),
                    producer="https://github.com/archival/archival")


def written(store: LocalStore) -> dict[int, str]:
    """sequence -> job name of every event object of the run."""
    found = {}
    for path in store.list(f"_lineage/{RUN}"):
        found[int(path.rsplit("/", 1)[1].split("-")[0])] = json.loads(store.read_bytes(path))["job"]["name"]
    return found


def test_events_take_consecutive_numbers_with_one_listing(tmp_path):
    store = CountingStore(tmp_path / "archive")
    transport = ArchiveTransport(store, RUN)
    for i in range(200):
        transport.emit(event(f"unit-{i}"))
    assert store.listings == 1  # before: one per event, each longer than the last
    assert written(store) == {i + 1: f"unit-{i}" for i in range(200)}


def test_a_new_transport_of_the_run_continues_after_the_last_event(tmp_path):
    """A retried run in a new process appends to the run's events, never over them."""
    store = LocalStore(tmp_path / "archive")
    first = ArchiveTransport(store, RUN)
    for i in range(3):
        first.emit(event(f"first-{i}"))
    ArchiveTransport(store, RUN).emit(event("again"))
    assert written(store) == {1: "first-0", 2: "first-1", 3: "first-2", 4: "again"}


def test_two_writers_of_one_run_lose_no_event(tmp_path):
    """Two processes of one run (Dask workers) each keep their own next number: a taken number sends
    the writer back to the listing, and every event lands under a number of its own."""
    store = CountingStore(tmp_path / "archive")
    one, two = ArchiveTransport(store, RUN), ArchiveTransport(store, RUN)
    names = []
    for i in range(20):
        for label, transport in (("one", one), ("two", two)):
            names.append(f"{label}-{i}")
            transport.emit(event(names[-1]))
    found = written(store)
    assert sorted(found.values()) == sorted(names)
    assert sorted(found) == list(range(1, 41))
    assert store.listings > 2  # the conflicts were found by writing, then listed


def test_threads_of_one_transport_share_its_numbers(tmp_path):
    store = LocalStore(tmp_path / "archive")
    transport = ArchiveTransport(store, RUN)
    threads = [threading.Thread(target=lambda k=k: [transport.emit(event(f"t{k}-{i}")) for i in range(25)])
               for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = written(store)
    assert sorted(found) == list(range(1, 101))
    assert len(set(found.values())) == 100
