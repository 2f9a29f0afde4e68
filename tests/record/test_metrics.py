"""What the metrics file carries from one run to the next (when a table last succeeded, how many runs
in a row it failed) and what it reads from the archive (newest period, bytes per tier, schedule)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from prometheus_client.parser import text_string_to_metric_families

from archival.archive.store import LocalStore
from archival.plan.units import UnitResult
from archival.record.metrics import write_metrics
from archival.spec.load import load_project
from tests.purge.demo import prepare_demo


def _values(path) -> dict[tuple[str, str], float]:
    return {(s.name, s.labels.get("table", "") + s.labels.get("tier", "")): s.value
            for f in text_string_to_metric_families(path.read_text()) for s in f.samples}


def test_success_and_failure_streaks_carry_over_runs(tmp_path, monkeypatch):
    path = tmp_path / "m.prom"
    ok, bad = UnitResult("d.t/2026-01", "written", rows=5), UnitResult("d.t/2026-01", "failed", error="boom")
    other = UnitResult("d.u/full", "unchanged", rows=1, details={"quarantined": 3, "attempts": 3})
    times = iter([1000.0, 2000.0, 3000.0, 4000.0])
    monkeypatch.setattr("archival.record.metrics.time.time", lambda: next(times))

    write_metrics(path, "p", "r1", [bad, other], 1.0)
    first = _values(path)
    assert first[("archival_table_consecutive_failed_runs", "d.t")] == 1
    assert ("archival_table_last_success_timestamp_seconds", "d.t") not in first
    assert first[("archival_table_quarantined_rows", "d.u")] == 3 and first[("archival_table_retries", "d.u")] == 2
    write_metrics(path, "p", "r2", [bad], 1.0)
    second = _values(path)
    assert second[("archival_table_consecutive_failed_runs", "d.t")] == 2
    assert second[("archival_table_last_success_timestamp_seconds", "d.u")] == 2000  # covered, nothing due
    write_metrics(path, "p", "r3", [ok], 1.0)
    assert _values(path)[("archival_table_consecutive_failed_runs", "d.t")] == 0
    assert _values(path)[("archival_table_last_success_timestamp_seconds", "d.t")] == 3000
    write_metrics(path, "p", "r4", [bad], 1.0)
    last = _values(path)
    assert last[("archival_table_consecutive_failed_runs", "d.t")] == 1
    assert last[("archival_table_last_success_timestamp_seconds", "d.t")] == 3000  # carried, not reset


def test_archive_facts_and_schedule(demo_project, small_demo_db, monkeypatch, tmp_path):
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    project = load_project(folder)
    results = [UnitResult("helpdesk.ticket_comments/2026-10", "unchanged"), UnitResult("helpdesk.agents/full",
                                                                                        "unchanged")]
    write_metrics(tmp_path / "m.prom", project.name, "r", results, 1.0, project, LocalStore(folder / "archive"))
    values = _values(tmp_path / "m.prom")
    assert values[("archival_table_schedule_seconds", "helpdesk.ticket_comments")] == 86400  # daily cron
    newest = values[("archival_table_newest_period_end_timestamp_seconds", "helpdesk.ticket_comments")]
    # the newest closed month ends where November begins in the domain's calendar (Europe/Berlin)
    assert newest == datetime(2026, 11, 1, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert values[("archival_table_stored_bytes", "helpdesk.ticket_commentshot")] > 10_000
    assert ("archival_table_newest_period_end_timestamp_seconds", "helpdesk.agents") not in values  # full table
