"""The compiler against hand-made archive states: statuses, closed periods, lag, watermarks."""

from datetime import UTC, datetime

import pytest

from archival.archive import layout
from archival.archive.manifest import Fingerprint, Manifest, SourceRef, SourceSummary
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.plan.compile import compile_table
from archival.source.probe import TableFacts
from archival.spec.load import load_project
from archival.spec.model import table_fingerprint

AS_OF = datetime(2026, 11, 25, 12, tzinfo=UTC)
EARLIEST = datetime(2026, 1, 10, tzinfo=UTC)


@pytest.fixture
def project(demo_project):
    return load_project(demo_project)


def _manifest(store: LocalStore, table, period: str, version: int, sha: str, watermark: str | None = None):
    """A manifest of 5 rows (no files: the compiler reads only what it says)."""
    manifest = Manifest(
        schema_version=1, domain=table.domain, table=table.name, period=period, mode=table.mode, window=None,
        source=SourceRef(name="helpdesk", type="sqlite", relation=table.relation), spec_sha256=sha,
        tool_version="test", format="parquet", timezone="UTC", schema=[], files=[], row_count=5,
        fingerprint=Fingerprint(algorithm="sum-md5-json-v1", value="0" * 32), source_summary=SourceSummary(row_count=5),
        quarantined_rows=0, pii={}, watermark=watermark, run_id="test", created_at="2026-01-01T00:00:00+00:00",
        version=version, previous_manifest_sha256=None)
    store.put_new(layout.manifest_path(table.domain, table.name, period, version), manifest.to_bytes())


def _compile(project, name, store, facts=None):
    table = project.domain("helpdesk").table(name)
    archived = archived_periods(store, table.domain, table.name)
    return compile_table(project, table, facts or TableFacts(earliest=EARLIEST, probed=True), archived, AS_OF)


def test_window_units_are_closed_periods_only(project, tmp_path):
    units, notes = _compile(project, "ticket_comments", LocalStore(tmp_path))
    assert [u.period for u in units][0] == "2026-01" and units[-1].period == "2026-10"
    assert all(u.status == "new" for u in units)
    assert "2026-11 is open" in notes[0].message
    # Europe/Berlin calendar: the month starts at local midnight
    assert units[0].window.start == datetime(2025, 12, 31, 23, tzinfo=UTC)
    assert units[0].id == "helpdesk.ticket_comments/2026-01"


def test_lag_keeps_a_period_open(project, tmp_path):
    table = project.domain("helpdesk").table("ticket_comments")
    just_after = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)  # October ended 30 minutes ago (Berlin); lag is 1h
    units, _ = compile_table(project, table, TableFacts(earliest=EARLIEST, probed=True), {}, just_after)
    assert units[-1].period == "2026-09"


def test_statuses_from_manifests(project, tmp_path):
    store = LocalStore(tmp_path)
    table = project.domain("helpdesk").table("ticket_comments")
    sha = table_fingerprint(table, project.sources["helpdesk"])
    _manifest(store, table, "2026-01", 1, sha)
    _manifest(store, table, "2026-02", 1, "0" * 64)
    _manifest(store, table, "2026-02", 2, sha)  # the highest version is current
    _manifest(store, table, "2026-03", 1, "0" * 64)
    units, _ = _compile(project, "ticket_comments", store)
    status = {u.period: u.status for u in units}
    assert status["2026-01"] == "up_to_date" and status["2026-02"] == "up_to_date"
    assert status["2026-03"] == "changed" and status["2026-04"] == "new"
    assert {u.period: u.archived_version for u in units}["2026-02"] == 2


def test_full_table_is_refreshed_each_run(project, tmp_path):
    store = LocalStore(tmp_path)
    table = project.domain("helpdesk").table("agents")
    assert _compile(project, "agents", store)[0][0].status == "new"
    _manifest(store, table, "full", 1, table_fingerprint(table, project.sources["helpdesk"]))
    unit = _compile(project, "agents", store)[0][0]
    assert (unit.period, unit.status, unit.window) == ("full", "refresh", None)


def test_incremental_rereads_from_watermark_minus_lookback(project, tmp_path):
    store = LocalStore(tmp_path)
    table = project.domain("helpdesk").table("tickets")
    sha = table_fingerprint(table, project.sources["helpdesk"])
    for label in ("2026-01", "2026-02", "2026-03"):
        _manifest(store, table, label, 1, sha)
    _manifest(store, table, "2026-03", 2, sha, watermark="2026-03-31T22:30:00+00:00")  # lookback 1d reaches March
    units, _ = _compile(project, "tickets", store)
    status = {u.period: u.status for u in units}
    assert status["2026-01"] == "up_to_date" and status["2026-02"] == "up_to_date"
    assert status["2026-03"] == "refresh" and status["2026-04"] == "new"
    assert units[-1].period == "2026-11" and units[-1].window.end == datetime(2026, 11, 25, 11, tzinfo=UTC)


def test_unknown_first_period_is_said(project, tmp_path):
    facts = TableFacts(problem="source not reachable: refused")
    units, notes = _compile(project, "ticket_comments", LocalStore(tmp_path), facts)
    assert units == []
    assert [n.level for n in notes] == ["warning", "warning"]
    assert "first period unknown" in notes[1].message


def test_archived_periods_extend_an_unknown_source(project, tmp_path):
    store = LocalStore(tmp_path)
    table = project.domain("helpdesk").table("ticket_comments")
    _manifest(store, table, "2026-09", 1, table_fingerprint(table, project.sources["helpdesk"]))
    units, _ = _compile(project, "ticket_comments", store, TableFacts(problem="down"))
    assert [u.period for u in units] == ["2026-09", "2026-10"]


def test_a_period_keeps_its_fingerprint_algorithm_until_it_is_rewritten(project, tmp_path):
    """Deltas add to the current version's sums and a rerun of unchanged rows must compare equal, so
    archived periods keep their algorithm; new periods, a new spec and a refresh get v3 (CSV: v1)."""
    from archival.plan.refresh import Refresh
    store = LocalStore(tmp_path)
    table = project.domain("helpdesk").table("tickets")
    sha = table_fingerprint(table, project.sources["helpdesk"])
    _manifest(store, table, "2026-01", 1, sha)
    _manifest(store, table, "2026-02", 1, "0" * 64)
    units = {u.period: u for u in _compile(project, "tickets", store)[0]}
    assert units["2026-01"].fingerprint_algorithm == "sum-md5-json-v1"  # archived under this spec: kept
    assert units["2026-02"].fingerprint_algorithm == "sum-xxh3-words-v3"  # another spec: written anew
    assert units["2026-03"].fingerprint_algorithm == "sum-xxh3-words-v3"  # new
    describe = {u.period: [s.describe() for s in u.stages if s.describe().startswith("fingerprint")][0]
                for u in units.values()}
    assert describe["2026-01"] == "fingerprint: sum-md5-json-v1"
    assert describe["2026-03"] == ("fingerprint: sum-xxh3-words-v3 "
                                   "(sum-md5-json-v1 if a column is nested or an interval)")
    archived = archived_periods(store, table.domain, table.name)
    refreshed, _ = compile_table(project, table, TableFacts(earliest=EARLIEST, probed=True), archived, AS_OF,
                                 refresh=Refresh("upgrade", ("helpdesk.tickets/2026-01",)))
    assert {u.period: u.fingerprint_algorithm for u in refreshed}["2026-01"] == "sum-xxh3-words-v3"
    csv = table.__class__(**{**table.__dict__, "format": "csv"})
    units, _ = compile_table(project, csv, TableFacts(earliest=EARLIEST, probed=True), {}, AS_OF)
    assert {u.fingerprint_algorithm for u in units} == {"sum-md5-json-v1"}
