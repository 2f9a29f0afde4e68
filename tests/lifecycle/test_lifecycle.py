"""`archival lifecycle` on moto's S3 server and on a local target: a window table with monthly
periods over three years and `retention: {hot: 30d, cool: 90d, cold: 365d, then: delete}`. After one
lifecycle run every object has the storage class its period is due for (data time), the expired
periods are gone with an `expiry` manifest version and an audit entry, a held period is kept, verify
--deep passes, query and restore name what expired, and a second run changes nothing. A period deleted
by hand, without that record, is still reported as lost."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

import pytest

from archival import cli
from archival.archive.audit_log import read_chain
from archival.archive.state import archived_periods
from archival.archive.store import LocalStore
from archival.archive.targets import open_store
from archival.spec.load import load_project
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, 12, tzinfo=UTC)
SPEC = """domain: app
owner: o@example.com
source: app
tables:
  events:
    relation: events
    primary_key: [id]
    mode: window
    cursor: created_at
    period: month
    lag: 1h
    retention: {hot: 30d, cool: 90d, cold: 365d, then: delete}
"""
HELD = "2024-02"


def _months() -> list[date]:
    first, months = date(2023, 12, 1), []
    while first < date(2026, 11, 1):
        months.append(first)
        first = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return months


def _expected(label: str) -> str | None:
    """The storage class a month is due for (None: expired), computed apart from the product."""
    year, month = map(int, label.split("-"))
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    age = AS_OF - end
    if age < timedelta(days=30):
        return "STANDARD"
    if age < timedelta(days=120):
        return "STANDARD_IA"
    if age < timedelta(days=485) or label == HELD:
        return "GLACIER_IR"
    return None


EXPIRED = sum(1 for m in _months() if _expected(f"{m:%Y-%m}") is None and f"{m:%Y-%m}" != HELD) + 1  # 19


def _project(tmp_path, target: str, per_month: int = 5) -> object:
    """`per_month` > 5 adds rows with incompressible bodies (about 1 KiB each), so moves take time."""
    db = tmp_path / "app.db"
    with closing(sqlite3.connect(db)) as con, con:
        con.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, created_at DATETIME, body TEXT)")
        rows = [(n * 100_000 + i, f"{m.isoformat()} {i % 24:02d}:00:00",
                 f"event {i} of {m:%Y-%m}" if i < 5 else os.urandom(512).hex())
                for n, m in enumerate(_months()) for i in range(per_month)]
        con.executemany("INSERT INTO events VALUES (?, ?, ?)", rows)
    folder = write_project(tmp_path / "p", "  app: {type: sqlite, path: ../app.db}", {"app": SPEC})
    if target:
        text = (folder / "archival.yaml").read_text().replace("default: local", "default: s3").replace(
            "  targets:\n", f"  targets:\n{target}\n", 1)
        (folder / "archival.yaml").write_text(text)
    _, results = run_units(folder, AS_OF)
    assert len(results) == 35 and {r.outcome for r in results} == {"written"}
    return folder


def _lifecycle(folder, capsys, *extra) -> list[dict]:
    capsys.readouterr()
    assert cli.main(["lifecycle", "--project-dir", str(folder), "--as-of", AS_OF.isoformat(), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def _check_expired(folder, store, capsys) -> None:
    periods = archived_periods(store, "app", "events")
    expired = sorted(p for p in periods if _expected(p) is None)
    assert len(expired) == EXPIRED - 1 and HELD not in expired
    for label in expired:
        manifest = periods[label].manifest
        assert manifest.expiry is not None and manifest.files == [] and manifest.expiry.rows == 5
        assert not [p for p in store.list(f"app/events/period={label}")]
    entries = [e for _, _, e in read_chain(store) if e.get("action") == "expire"]
    assert sorted(e["period"] for e in entries) == expired
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0
    capsys.readouterr()
    assert cli.main(["query", "--project-dir", str(folder), "--format", "csv", "--sql",
                     "select count(*) from app.events"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(5 * (35 - len(expired)))
    assert cli.main(["restore", "--project-dir", str(folder), "-s", "table:app.events", "--to",
                     str(folder / "r.db")]) == 0
    assert f"{len(expired)} period(s) expired under the retention (2023-12..{expired[-1]}, {5 * len(expired)} rows) " \
        "are not restored" in capsys.readouterr().out
    assert cli.main(["restore", "--project-dir", str(folder), "-s", "table:app.events", "--period", "2024-01",
                     "--to", str(folder / "r2.db")]) == 2
    assert "period(s) 2024-01 expired on " in capsys.readouterr().err


def test_lifecycle_on_s3(tmp_path, moto_endpoint, monkeypatch, capsys):
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"lifecycle-{os.getpid()}-{time.monotonic_ns()}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    folder = _project(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                                f"allow_http: true}}")
    assert cli.main(["hold", "add", "app.events/" + HELD, "--project-dir", str(folder), "--reason", "case 4711"]) == 0
    before = {o["Key"]: o for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}

    rows = _lifecycle(folder, capsys)
    assert {r["period"]: r["due"] for r in rows if r["period"] == HELD} == {HELD: "cold"}
    store = open_store(load_project(folder))
    for key, listed in before.items():
        if "/period=" not in key or "_manifests" in key:
            continue
        label = key.split("/period=")[1].split("/")[0]
        wanted = _expected(label)
        if wanted is None:
            assert key not in {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
            continue
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head.get("StorageClass", "STANDARD") == wanted, (label, head.get("StorageClass"))
        assert head["ContentLength"] == listed["Size"] and head["Metadata"]["sha256"]
    _check_expired(folder, store, capsys)

    again = _lifecycle(folder, capsys)
    assert {r["action"] for r in again} <= {"none", "expired", "held"} and len(again) == 35
    chain = len(read_chain(store))
    _lifecycle(folder, capsys)
    assert len(read_chain(store)) == chain


def _plan_says(folder, capsys) -> list[str]:
    capsys.readouterr()
    assert cli.main(["plan", "--project-dir", str(folder), "--as-of", AS_OF.isoformat(), "--offline"]) == 0
    return [line for line in capsys.readouterr().out.splitlines() if line.startswith("lifecycle due")] or [""]


def test_lifecycle_on_a_local_target_records_tiers_and_expires(tmp_path, capsys):
    folder = _project(tmp_path, "")
    assert cli.main(["hold", "add", "app.events/" + HELD, "--project-dir", str(folder), "--reason", "case 4711"]) == 0
    cold = sum(1 for m in _months() if _expected(f"{m:%Y-%m}") == "GLACIER_IR")
    said = _plan_says(folder, capsys)[0]
    assert f"{cold} period(s) to cold, {EXPIRED - 1} period(s) expire (" in said
    assert f"{5 * (EXPIRED - 1)} rows)" in said
    rows = _lifecycle(folder, capsys)
    assert _plan_says(folder, capsys)[0].startswith("lifecycle due: 1 held past retention, storage +0.0000 USD/year")
    tiers = {"STANDARD": "hot", "STANDARD_IA": "cool", "GLACIER_IR": "cold"}
    assert {r["period"]: r["tier"] for r in rows} == {r["period"]: tiers.get(_expected(r["period"]) or "")
                                                       for r in rows}
    _check_expired(folder, LocalStore(folder / "archive"), capsys)
    assert {r["action"] for r in _lifecycle(folder, capsys)} <= {"none", "expired", "held"}


def test_an_expiry_interrupted_after_its_record_is_finished_by_the_next_run(tmp_path, capsys, monkeypatch):
    folder = _project(tmp_path, "")
    calls = []
    real = LocalStore.delete

    def crash_after_two(self, path):
        calls.append(path)
        if len(calls) > 2:
            raise KeyboardInterrupt("killed")
        real(self, path)

    monkeypatch.setattr(LocalStore, "delete", crash_after_two)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["lifecycle", "--project-dir", str(folder), "--as-of", AS_OF.isoformat()])
    monkeypatch.setattr(LocalStore, "delete", real)
    assert cli.main(["verify", "--project-dir", str(folder)]) == 0  # deleted on purpose, recorded first
    _lifecycle(folder, capsys)
    store = LocalStore(folder / "archive")
    periods = archived_periods(store, "app", "events")
    gone = [label for label, a in periods.items() if a.manifest.expiry]
    assert len(gone) == EXPIRED  # no hold in this test
    assert not [p for label in gone for p in store.list(f"app/events/period={label}")]
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0


def test_a_period_deleted_by_hand_is_still_reported_as_lost(tmp_path, capsys):
    folder = _project(tmp_path, "")
    for path in (folder / "archive" / "app" / "events" / "period=2024-03").iterdir():
        path.unlink()
    assert cli.main(["verify", "--project-dir", str(folder)]) == 1
    assert "missing: app/events/period=2024-03/part-00000-" in capsys.readouterr().err


def test_holds_are_audited_and_refuse_nonsense(tmp_path, capsys):
    folder = _project(tmp_path, "")
    args = ["--project-dir", str(folder)]
    assert cli.main(["hold", "add", "app.events", *args, "--reason", "litigation"]) == 0
    assert cli.main(["hold", "add", "app.events", *args, "--reason", "again"]) == 2
    assert cli.main(["hold", "add", "app.nope", *args, "--reason", "x"]) == 2
    assert cli.main(["hold", "add", "app.events/2024-01", *args]) == 2
    capsys.readouterr()
    assert cli.main(["hold", "ls", *args]) == 0
    assert "app.events  since " in capsys.readouterr().out
    rows = _lifecycle(folder, capsys)
    assert not [r for r in rows if r["action"] in ("expire", "expired")]
    assert cli.main(["hold", "remove", "app.events", *args, "--reason", "settled"]) == 0
    assert sum(1 for r in _lifecycle(folder, capsys) if r["action"] == "expired") == EXPIRED
    actions = [e["action"] for _, _, e in read_chain(LocalStore(folder / "archive"))]
    assert actions.count("hold") == 1 and actions.count("release") == 1


def test_the_lifecycle_flow_and_its_generated_deployment(tmp_path, prefect_server):
    from archival.run.deployments import render
    from archival.run.lifecycle_flow import archival_lifecycle

    folder = _project(tmp_path, "")
    assert "flows/lifecycle.py:archival_lifecycle" in render("", load_project(folder))
    assert archival_lifecycle(str(folder), as_of=AS_OF, dry_run=True) == 35 - 1  # one month is still hot
    assert archival_lifecycle(str(folder), as_of=AS_OF) == 35 - 1
    assert archival_lifecycle(str(folder), as_of=AS_OF) == 0
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0


def test_a_cold_tier_in_deep_archive_is_retrieved_before_it_is_read(tmp_path, moto_endpoint, monkeypatch, capsys):
    """`storage_classes: {cold: DEEP_ARCHIVE}`: restore and query refuse, naming `archival retrieve`;
    verify checks those files by the sha256 stored with them; after the retrieval they read again."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"deep-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    folder = _project(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                                f"allow_http: true, "
                                "storage_classes: {cold: DEEP_ARCHIVE}}")
    args = ["--project-dir", str(folder)]
    _lifecycle(folder, capsys)
    cold = sorted(r["period"] for r in _lifecycle(folder, capsys) if r["tier"] == "cold")
    assert cold and HELD not in cold
    assert cli.main(["restore", *args, "-s", "table:app.events", "--to", str(folder / "r.db")]) == 2
    err = capsys.readouterr().err
    assert "are in a storage class that must be retrieved first" in err and \
        "run `archival retrieve -s table:app.events`" in err
    assert cli.main(["query", *args, "--sql", "select count(*) from app.events"]) == 1
    assert cli.main(["verify", "--deep", *args]) == 0
    assert f"{len(cold)} file(s) in GLACIER/DEEP_ARCHIVE checked by the sha256 stored with them" in \
        capsys.readouterr().out
    assert cli.main(["retrieve", *args, "-s", "table:app.events", "--days", "2"]) == 0
    assert f"asked S3 to restore {len(cold)} file(s) for 2 day(s)" in capsys.readouterr().out
    assert cli.main(["restore", *args, "-s", "table:app.events", "--to", str(folder / "r.db")]) == 0
    assert cli.main(["verify", "--deep", *args]) == 0


def test_local_tier_folders_survive_sigkill_during_moves(tmp_path, capsys):
    """Tier folders on a local target: periods move by copy, fsync, sha256, a manifest version, then
    removal. `archival lifecycle` is killed (SIGKILL) at random moments and run again until done:
    every row stays readable, each file ends in exactly the folder of its tier, verify --deep passes."""
    import random
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    folder = _project(tmp_path, "", per_month=2000)
    text = (folder / "archival.yaml").read_text().replace(
        "local: {type: local, path: ./archive}", "local: {type: local, path: ./archive, tiers: {cool: ../cool, "
        "cold: ../cold}}")
    (folder / "archival.yaml").write_text(text)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "archival.cli", "lifecycle", "--project-dir", str(folder),
               "--as-of", AS_OF.isoformat()]
    rng = random.Random(20261126)
    audit = folder / "archive" / "_audit"
    kills, progress = 0, []
    while True:  # each run is killed a few audit entries (periods) later, at a random moment, until one finishes
        base = len(list(audit.iterdir()))
        wanted = base + rng.randint(1, 6)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while process.poll() is None and len(list(audit.iterdir())) < wanted:
            time.sleep(0.005)
        if process.poll() is not None:
            break
        time.sleep(rng.uniform(0, 0.05))  # somewhere in the next period's copy, version or removal
        process.send_signal(signal.SIGKILL)
        process.wait()
        kills += 1
        # verify passes, or finds only a version whose entry the kill cut off (the next run appends it)
        if cli.main(["verify", "--project-dir", str(folder)]) != 0:
            findings = capsys.readouterr().err.splitlines()
            assert all(f.endswith(("manifest is not recorded in the audit chain",
                                   "a temp or hidden file that no manifest names (glob readers would read it)"))
                       for f in findings), findings  # both are repaired by the next run
        assert cli.main(["query", "--project-dir", str(folder), "--format", "csv", "--sql",
                         "select count(*) from app.events"]) == 0  # every file readable wherever it is
        assert int(capsys.readouterr().out.splitlines()[-1]) >= 2000 * (35 - EXPIRED)
        progress.append(len(list(audit.iterdir())))
    assert kills >= 3, progress
    assert subprocess.run(command, env=env, capture_output=True).returncode == 0
    rows = _lifecycle(folder, capsys)
    assert {r["action"] for r in rows} <= {"none", "expired"}
    store = open_store(load_project(folder))
    for label, archived in archived_periods(store, "app", "events").items():
        tier = {"STANDARD": "hot", "STANDARD_IA": "cool", "GLACIER_IR": "cold"}.get(_expected(label) or "")
        for entry in archived.manifest.files:
            assert store.copies(entry.path) == [tier], (label, store.copies(entry.path))
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0
    capsys.readouterr()
    assert cli.main(["query", "--project-dir", str(folder), "--format", "csv", "--sql",
                     "select count(*) from app.events"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == str(2000 * (35 - EXPIRED))


def test_object_lock_until_the_planned_expiry(tmp_path, moto_endpoint, monkeypatch, capsys):
    """`object_lock: GOVERNANCE`: each data file is locked until its period's end plus the whole
    retention (its planned expiry); an expiry asked for before a lock ends is refused and changes
    nothing; at expiry every version of the object is deleted (a locked bucket is versioned); storage
    classes are left to bucket rules (a copy would be a new, unlocked version)."""
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"locked-{os.getpid()}-{time.monotonic_ns()}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    folder = _project(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                                f"allow_http: true, "
                                "object_lock: GOVERNANCE}")
    store = open_store(load_project(folder))
    periods = archived_periods(store, "app", "events")
    for label in ("2024-01", "2026-10"):
        year, month = map(int, label.split("-"))
        head = s3.head_object(Bucket=bucket, Key=periods[label].manifest.files[0].path)
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert head["ObjectLockRetainUntilDate"] == datetime(year + month // 12, month % 12 + 1, 1,
                                                             tzinfo=UTC) + timedelta(days=485)

    later = AS_OF + timedelta(days=400)  # more periods are past retention then than by the clock today
    assert cli.main(["lifecycle", "--project-dir", str(folder), "--as-of", later.isoformat()]) == 1
    err = capsys.readouterr().err
    refused = [line for line in err.splitlines() if "Object Lock until 20" in line]
    assert refused and all("expiry refused (nothing of it was changed)" in line for line in refused)
    now = datetime.now(UTC)
    for label, archived in archived_periods(store, "app", "events").items():
        year, month = map(int, label.split("-"))
        lock = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC) + timedelta(days=485)
        past = lock <= later
        if past and lock <= now:  # expired: every version of its objects is gone
            assert archived.manifest.expiry is not None
            old = periods[label].manifest.files[0].path
            versions = s3.list_object_versions(Bucket=bucket, Prefix=old)
            assert not versions.get("Versions") and not versions.get("DeleteMarkers"), label
        else:  # not due, or locked: untouched, still in the class it was written in
            assert archived.manifest.expiry is None and archived.manifest.version == 1, label
            head = s3.head_object(Bucket=bucket, Key=archived.manifest.files[0].path)
            assert head.get("StorageClass", "STANDARD") == "STANDARD"
            if past:
                assert any(f"app.events {label}:" in line for line in refused)
    assert cli.main(["verify", "--project-dir", str(folder)]) == 0


def test_emitted_bucket_rules(tmp_path, capsys):
    folder = _project(tmp_path, "")
    assert cli.main(["lifecycle", "--project-dir", str(folder), "--emit-s3-rules"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"Rules": [{
        "ID": "archival-app-events", "Status": "Enabled", "Filter": {"Prefix": "app/events/"},
        "Transitions": [{"Days": 30, "StorageClass": "STANDARD_IA"}, {"Days": 120, "StorageClass": "GLACIER_IR"}]},
        {"ID": "archival-abort-incomplete-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}
    assert "app.events: `then: delete` is not emitted as a bucket expiration" in captured.err


def test_a_transition_in_a_versioned_bucket_keeps_one_version(tmp_path, moto_endpoint, monkeypatch, capsys):
    import boto3

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"versioned-{os.getpid()}-{time.monotonic_ns()}"
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    folder = _project(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                                f"allow_http: true}}")
    _lifecycle(folder, capsys)
    periods = archived_periods(open_store(load_project(folder)), "app", "events")
    key = periods["2026-09"].manifest.files[0].path  # due cool
    versions = [v for v in s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"] if v["Key"] == key]
    assert [v["StorageClass"] for v in versions] == ["STANDARD_IA"]
    assert cli.main(["verify", "--deep", "--project-dir", str(folder)]) == 0


def test_the_lifecycle_flow_fails_on_a_refused_expiry(tmp_path, moto_endpoint, monkeypatch, prefect_server):
    import boto3

    from archival.run.lifecycle_flow import ExpiryRefused, archival_lifecycle

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    bucket = f"flowlock-{os.getpid()}-{time.monotonic_ns()}"
    boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket, ObjectLockEnabledForBucket=True)
    folder = _project(tmp_path, f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: {moto_endpoint}, "
                                f"allow_http: true, "
                                "object_lock: GOVERNANCE}")
    with pytest.raises(ExpiryRefused, match="past retention are under S3 Object Lock: app.events 20"):
        archival_lifecycle(str(folder), as_of=AS_OF + timedelta(days=400))
