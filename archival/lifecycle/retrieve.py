"""`archival retrieve`: ask S3 for readable copies of the files in GLACIER / DEEP_ARCHIVE that restore
and query need (archive/rows.py names this command when they meet such a file)."""

from __future__ import annotations

from archival.archive.s3 import S3Store
from archival.archive.state import archived_periods
from archival.spec.model import Table


def request_retrieval(store: S3Store, tables: list[Table], periods: list[str], days: int) -> int:
    """Returns how many files were asked for (`periods`: only these; none: all)."""
    asked = 0
    for table in tables:
        for period, archived in archived_periods(store, table.domain, table.name).items():
            if periods and period not in periods:
                continue
            m = archived.manifest
            for path in (f.path for f in [*m.files, *m.tombstones, *m.quarantine]):
                if store.needs_retrieval(path):
                    store.retrieve(path, days)
                    asked += 1
    return asked
