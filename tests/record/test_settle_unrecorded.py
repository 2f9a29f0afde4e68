"""A unit that publishes its manifest and then fails to append the audit entry (a disk that filled up
between the two writes) fails, and the run still writes its record. The record tells the next run
that every manifest of this run is in the audit chain, so the run appends the missing entry itself
before writing it (record/runs.py settle_unrecorded); CI's full-disk test met the case at random."""

from __future__ import annotations

import errno
import json
import sqlite3
from contextlib import closing

import archival.record.audit as audit
from archival import cli
from archival.archive.audit_log import read_chain
from archival.archive.store import LocalStore
from archival.verify.check import verify_archive
from tests.conftest import write_project

SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  orders: {relation: orders, primary_key: [id], mode: full}
  items: {relation: items, primary_key: [id], mode: full}
"""


def test_a_manifest_whose_unit_failed_before_its_entry_is_recorded_before_the_run_record(tmp_path, monkeypatch):
    with closing(sqlite3.connect(tmp_path / "app.db")) as con:
        for name in ("orders", "items"):
            con.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, v TEXT)")
            con.executemany(f"INSERT INTO {name} VALUES (?, ?)", [(i, f"{name}-{i}") for i in range(50)])
        con.commit()
    folder = write_project(tmp_path, "  app: {type: sqlite, path: app.db}", {"shop": SPEC})
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    append = audit.append

    def full_disk_for_orders(store, entry, *args, **kwargs):
        # every attempt of the unit fails here, after its manifest is published
        if entry.get("unit") == "shop.orders/full" and "before the run record" not in entry.get("recovered", ""):
            raise OSError(errno.ENOSPC, "No space left on device")
        return append(store, entry, *args, **kwargs)

    monkeypatch.setattr(audit, "append", full_disk_for_orders)
    assert cli.main(["run", "--project-dir", str(folder), "--no-progress"]) == 1
    store = LocalStore(folder / "archive")
    [record] = (folder / "archive" / "_runs").glob("*.json")
    outcomes = {u["unit_id"]: u["outcome"] for u in json.loads(record.read_bytes())["units"]}
    assert outcomes == {"shop.orders/full": "failed", "shop.items/full": "written"}
    publishes = [e for _, _, e in read_chain(store) if e.get("action") == "publish"]
    orders = [e for e in publishes if e["unit"] == "shop.orders/full"]
    assert len(orders) == 1 and orders[0]["recovered"].startswith("its unit failed after publishing it")
    assert orders[0]["manifest"].startswith("shop/orders/_manifests/")
    assert verify_archive(store, deep=True).ok
