"""Archives written by earlier releases stay readable and verifiable. tests/fixtures/golden/v0.1.0,
v0.2.0 and v0.3.0 were written by those releases (tests/fixtures/golden/make_golden.py): two runs of
a tiny demo helpdesk with edits, hard deletes, a late row and a quarantined row between them, Parquet
and CSV. 0.1.0 fingerprinted with `sum-md5-json-v1`; 0.2.0 with `sum-xxh3-text-v2` (Parquet) and v1
(CSV); 0.3.0 with `sum-xxh3-words-v3` (Parquet) and v1 (CSV)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime

import pytest

from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
from tests.conftest import FIXTURES
from tests.run.helpers import archive_files, run_units

GOLDEN = FIXTURES / "golden" / "v0.1.0"
SECOND_RUN = datetime(2026, 12, 1, tzinfo=UTC)  # the as-of of the release's last run
LATER = datetime(2026, 12, 2, tzinfo=UTC)

RELEASES = ["golden", "golden_020", "golden_030"]  # the fixtures of tests/conftest.py


@pytest.mark.parametrize("release", RELEASES)
def test_golden_archive_verifies_deep(release, request):
    golden = request.getfixturevalue(release)
    report = verify_archive(LocalStore(golden / "archive"), deep=True)
    assert report.ok, [str(f) for f in report.findings]
    assert report.manifests == 43 and report.rows_checked == 1931


@pytest.mark.parametrize("release, parquet", [("golden_020", "sum-xxh3-text-v2"), ("golden_030", "sum-xxh3-words-v3")])
def test_the_later_archives_hold_both_their_fingerprints(release, parquet, request):
    from archival.archive.state import archived_periods
    store = LocalStore(request.getfixturevalue(release) / "archive")
    for domain, algorithm in (("helpdesk", parquet), ("helpdesk_csv", "sum-md5-json-v1")):
        found = {p.manifest.fingerprint.algorithm for table in ("customers", "tickets")
                 for p in archived_periods(store, domain, table).values()}
        assert found == {algorithm}, (domain, found)


@pytest.mark.parametrize("release", RELEASES)
def test_this_release_adds_nothing_to_an_unchanged_golden_archive(release, request):
    """Upgrading must not re-export what the earlier release archived: same source rows, same spec."""
    golden = request.getfixturevalue(release)

    def kept(files: dict[str, bytes]) -> dict[str, bytes]:  # all but each run's own records and `run` entry
        return {k: v for k, v in files.items() if not k.startswith(("_runs/", "_lineage/"))
                and not (k.startswith("_audit/") and json.loads(v).get("action") == "run")}

    before = kept(archive_files(golden))
    _, results = run_units(golden, SECOND_RUN, select=["domain:helpdesk"])
    assert results and {r.outcome for r in results} == {"unchanged"}, [(r.unit_id, r.outcome) for r in results]
    assert kept(archive_files(golden)) == before


def test_this_release_continues_the_csv_domain_the_old_release_could_not(golden):
    """0.1.0 archived helpdesk_csv once and failed its second run; this release picks up the edits made
    since (a renamed company, updated tickets, a late comment, hard deletes) on top of the old files."""
    _, results = run_units(golden, SECOND_RUN, select=["domain:helpdesk_csv"])
    assert "failed" not in {r.outcome for r in results}
    written = {r.unit_id for r in results if r.outcome == "written"}
    assert {"helpdesk_csv.customers/full", "helpdesk_csv.tickets/2026-Q4"} <= written
    assert any(r.details.get("tombstoned") for r in results)  # the hard-deleted ticket
    report = verify_archive(LocalStore(golden / "archive"), deep=True)
    assert report.ok, [str(f) for f in report.findings]


def test_new_file_times_do_not_make_orphans(golden):
    """A copied or freshly checked-out archive gives every file a new time. Files that older manifest
    versions name (the renamed customers' first snapshot) must stay where they are: time is only a
    prefilter, the manifest versions decide."""
    archive = golden / "archive"
    for path in archive.rglob("*"):
        if path.is_file():  # every data file now looks newer than every manifest
            stamp = 1_000_000_000 if "_manifests" in path.parts else 2_000_000_000
            os.utime(path, (stamp, stamp))
    run_units(golden, SECOND_RUN, select=["domain:helpdesk"])
    assert not (archive / "_orphans").exists()
    assert verify_archive(LocalStore(archive), deep=True).ok


def _algorithms(golden, table: str) -> dict[str, str]:
    """period -> fingerprint algorithm of its current manifest."""
    from archival.archive.state import archived_periods
    periods = archived_periods(LocalStore(golden / "archive"), "helpdesk", table)
    return {label: p.manifest.fingerprint.algorithm for label, p in periods.items()}


@pytest.mark.parametrize("release, written", [("golden", "sum-md5-json-v1"), ("golden_020", "sum-xxh3-text-v2")])
def test_old_periods_keep_their_fingerprint_for_deltas_and_move_to_v3_when_refreshed(release, written, request):
    """0.1.0 wrote `sum-md5-json-v1`, 0.2.0 `sum-xxh3-text-v2`. A delta adds its rows' sums to the
    period's, so it keeps the period's algorithm; a refresh re-reads the period and writes it with
    `sum-xxh3-words-v3` (the rows are equal, the algorithm is not, so a new version). All verify --deep."""
    import sqlite3

    from archival.plan.refresh import Refresh

    golden = request.getfixturevalue(release)
    assert set(_algorithms(golden, "tickets").values()) == {written}
    db = sqlite3.connect(golden / "data" / "helpdesk.db")
    db.execute("UPDATE tickets SET status = 'open', updated_at = '2026-12-01 10:00:00' WHERE id = 2")
    db.commit()
    db.close()
    _, results = run_units(golden, LATER, select=["table:helpdesk.tickets"])
    written_units = {r.unit_id for r in results if r.outcome == "written"}
    assert written_units == {"helpdesk.tickets/2026-Q4"}
    assert set(_algorithms(golden, "tickets").values()) == {written}  # the delta kept the period's

    refresh = Refresh("fingerprint upgrade", ("helpdesk.tickets/2025-Q1",))
    _, results = run_units(golden, LATER, select=["table:helpdesk.tickets"], refresh=refresh)
    assert {r.unit_id: r.outcome for r in results}["helpdesk.tickets/2025-Q1"] == "written"
    algorithms = _algorithms(golden, "tickets")
    assert algorithms.pop("2025-Q1") == "sum-xxh3-words-v3"
    assert set(algorithms.values()) == {written}
    _, again = run_units(golden, LATER, select=["table:helpdesk.tickets"], refresh=refresh)
    assert {r.unit_id: r.outcome for r in again}["helpdesk.tickets/2025-Q1"] == "unchanged"  # v3 compares to v3
    report = verify_archive(LocalStore(golden / "archive"), deep=True)
    assert report.ok, [str(f) for f in report.findings]
