"""A unit's lineage START is written on the archive's request pool while the unit reads, and still
before anything of the unit is published: a START still on its way holds the commit, and a START that cannot
be written fails the unit with nothing published, as when it was written first."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from archival.record import lineage
from tests.run.helpers import archive_files, run_units

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def _event_type(event) -> str:
    return event.eventType.value


def test_a_start_on_its_way_holds_the_commit(shop_project, monkeypatch):
    real_emit, real_started = lineage.ArchiveTransport.emit, lineage.LineageEmitter.started
    order: list[str] = []
    asked = threading.Event()

    def slow(self, event):
        if _event_type(event) == "START":
            asked.wait(5)  # a slow store: written only once the commit has asked for it
        real_emit(self, event)
        order.append(_event_type(event))

    def started(self, unit_id):
        asked.set()
        real_started(self, unit_id)
        order.append("commit")

    monkeypatch.setattr(lineage.ArchiveTransport, "emit", slow)
    monkeypatch.setattr(lineage.LineageEmitter, "started", started)
    _, results = run_units(shop_project, AS_OF, select=["table:shop.customers", "table:shop.tickets"])
    assert len(results) > 2 and all(r.outcome == "written" for r in results)
    # each unit: its START written, then its commit goes on, then its COMPLETE (which asks again)
    assert order == ["START", "commit", "commit", "COMPLETE"] * len(results)


def test_a_start_that_cannot_be_written_fails_the_unit_and_publishes_nothing(shop_project, monkeypatch):
    real = lineage.ArchiveTransport.emit

    def broken(self, event):
        if _event_type(event) == "START":
            raise OSError("the archive refused the lineage event")
        real(self, event)

    monkeypatch.setattr(lineage.ArchiveTransport, "emit", broken)
    with pytest.raises(OSError, match="refused the lineage event"):
        run_units(shop_project, AS_OF, select=["table:shop.customers"])
    files = archive_files(shop_project)
    assert not [p for p in files if "/_manifests/" in p or p.endswith(".parquet")]
    assert [p for p in files if p.startswith("_lineage/") and p.endswith("-FAIL.json")]  # said, all the same
