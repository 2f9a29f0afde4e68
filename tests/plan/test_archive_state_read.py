"""The plan reads each table's archive state (manifests, objects, purges) for many tables at once
(plan/build.py ARCHIVE_READERS: on S3 each read waits for a round trip); a manifest that cannot be
read still stops the plan with the error that names it, whichever table's thread met it."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

import archival.plan.build as build
from archival.archive.state import ArchiveStateError
from archival.archive.store import LocalStore
from archival.spec.load import load_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize("readers", [1, 4])
def test_the_same_plan_and_the_same_error_with_one_reader_or_several(shop_project, monkeypatch, readers):
    run_units(shop_project, AS_OF)
    project = load_project(shop_project)
    tables = [t for d in project.domains for t in d.tables]
    monkeypatch.setattr(build, "ARCHIVE_READERS", 1)
    alone = build.build_plan(project, tables, as_of=AS_OF)
    monkeypatch.setattr(build, "ARCHIVE_READERS", readers)
    assert build.build_plan(project, tables, as_of=AS_OF).units == alone.units

    [manifest] = sorted((shop_project / "archive" / "shop" / "customers").rglob("v*.json"))[-1:]
    manifest.write_text("{ not json")
    with pytest.raises(ArchiveStateError, match="shop/customers/_manifests"):
        build.build_plan(project, tables, as_of=AS_OF)


class CountedStore(LocalStore):
    """Counts the audit entries read: the chain grows with every unit a run publishes."""

    audit_reads = 0

    def read_bytes(self, path: str) -> bytes:
        if path.startswith("_audit/"):
            self.audit_reads += 1
        return super().read_bytes(path)


def test_the_plan_reads_the_audit_chain_only_when_a_table_is_keyed_otherwise(shop_project):
    """The rebaselines are found by reading every audit entry: a plan of unchanged tables reads none,
    one whose table changed its period reads them and still refuses until the rebaseline."""
    run_units(shop_project, AS_OF)
    run_units(shop_project, AS_OF)
    project = load_project(shop_project)
    tables = [t for d in project.domains for t in d.tables]
    store = CountedStore(shop_project / "archive")
    plan = build.build_plan(project, tables, as_of=AS_OF, store=store)
    assert store.audit_reads == 0 and not plan.has_errors

    spec = shop_project / "specs" / "shop.yaml"
    spec.write_text(spec.read_text().replace("period: month", "period: day"))
    project = load_project(shop_project)
    tables = [t for d in project.domains for t in d.tables]
    plan = build.build_plan(project, tables, as_of=AS_OF, store=store)
    assert store.audit_reads == len(list((shop_project / "archive" / "_audit").glob("*.json")))
    assert plan.has_errors and "archival rebaseline" in " ".join(n.message for n in plan.notes)


def test_a_tables_periods_are_read_at_once_with_the_same_result_and_errors(shop_project, monkeypatch):
    """archive/state.py reads a table's period manifests on the archive's shared pool (on S3 a daily
    table's plan waited for a round trip per period: 391 periods 11 -> 2 s at 10 ms each way)."""
    from concurrent.futures import ThreadPoolExecutor

    import archival.archive.state as state
    from archival.archive import round_trips

    run_units(shop_project, AS_OF)
    store = LocalStore(shop_project / "archive")
    together = state.archived_periods(store, "shop", "comments")
    assert len(together) > 3
    monkeypatch.setattr(round_trips, "_POOL", ThreadPoolExecutor(1))
    assert state.archived_periods(store, "shop", "comments") == together
    monkeypatch.undo()
    broken = together[sorted(together)[len(together) // 2]].path
    (shop_project / "archive" / broken).write_text("{ not json")
    with pytest.raises(ArchiveStateError, match=re.escape(broken)):
        state.archived_periods(store, "shop", "comments")


def _periods_in_child(root: str, out) -> None:
    import archival.archive.state as state

    out.put(len(state.archived_periods(LocalStore(root), "shop", "comments")))


def test_a_forked_child_reads_periods_with_a_pool_of_its_own(shop_project):
    """The shared pool's threads stay in the parent: a child forked after they started (a runner or a
    user's own multiprocessing) gets a pool of its own, not one that waits for threads it lacks."""
    import multiprocessing

    import archival.archive.state as state

    run_units(shop_project, AS_OF)
    root = str(shop_project / "archive")
    for _ in range(3):  # the pool's threads run, and count themselves idle for more reads than a table has
        periods = len(state.archived_periods(LocalStore(root), "shop", "comments"))
    assert periods > 3
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    child = context.Process(target=_periods_in_child, args=(root, out))
    child.start()
    child.join(60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive and out.get(timeout=5) == periods
