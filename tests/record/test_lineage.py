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


def event(name: str, state: RunState = RunState.START) -> RunEvent:
    return RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(),
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


def test_two_writers_of_one_run_lose_no_event_and_share_no_number(tmp_path):
    """Two processes of one run (Dask workers) each keep their own next number. A number is taken by
    an event of any type, which a create-only write of `<NNNN>-<type>.json` cannot see, so a shared
    transport asks first; without that, one worker's START and another's COMPLETE share a number."""
    store = CountingStore(tmp_path / "archive")
    one, two = ArchiveTransport(store, RUN, shared=True), ArchiveTransport(store, RUN, shared=True)
    names = []
    for i in range(20):
        for label, transport, state in (("one", one, RunState.START), ("two", two, RunState.COMPLETE)):
            names.append(f"{label}-{i}")
            transport.emit(event(names[-1], state))
    found = written(store)
    assert sorted(found.values()) == sorted(names)
    assert sorted(found) == list(range(1, 41))
    assert store.listings > 2  # the taken numbers were found by asking, then listed

    alone = LocalStore(tmp_path / "unshared")
    one, two = ArchiveTransport(alone, RUN), ArchiveTransport(alone, RUN)
    one.emit(event("a", RunState.START))  # 1, and `one` keeps 2 as its next
    two.emit(event("b", RunState.START))  # lists: 2
    one.emit(event("a", RunState.COMPLETE))  # its own name is free: a second event numbered 2
    assert sorted(p.rsplit("/", 1)[1] for p in alone.list(f"_lineage/{RUN}")) == [
        "0001-START.json", "0002-COMPLETE.json", "0002-START.json"]


def test_a_context_that_crossed_processes_shares_its_lineage(tmp_path):
    """A run context arrives in a worker process pickled: its lineage is then one writer of several."""
    import pickle

    from archival.run.context import RunContext
    from archival.spec.load import load_project
    from tests.conftest import write_project

    spec = ("domain: shop\nowner: o@example.com\nsource: app\n"
            "tables:\n  t: {relation: t, primary_key: [id], mode: full}\n")
    folder = write_project(tmp_path / "p", "  app: {type: sqlite, path: app.db}", {"shop": spec})
    ctx = RunContext(load_project(folder), LocalStore(folder / "archive"), "local", RUN)
    assert ctx.lineage.transport.shared is False
    assert pickle.loads(pickle.dumps(ctx)).lineage.transport.shared is True


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
