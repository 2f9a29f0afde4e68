"""What the archive already holds, read from its manifests (no side database): per table and
period, the current (highest) manifest version."""

from __future__ import annotations

import json
from dataclasses import dataclass

from archival.archive import layout
from archival.archive.store import ArchiveStore


class ArchiveStateError(Exception):
    """A manifest that cannot be read or parsed."""


@dataclass(frozen=True)
class ArchivedPeriod:
    period: str
    version: int
    path: str
    spec_sha256: str
    row_count: int
    watermark: str | None
    deleted_rows: int = 0  # keys tombstoned in this period (rows that left the source)
    key_checksum: str | None = None  # of the live keys (window mode), see source/cursor.py
    mode: str | None = None
    cursor: tuple[str, ...] | None = None  # None for full tables and `period=null`
    primary_key: tuple[str, ...] | None = None

    @property
    def live_rows(self) -> int:
        return self.row_count - self.deleted_rows


def archived_periods(store: ArchiveStore, domain: str, table: str) -> dict[str, ArchivedPeriod]:
    prefix = f"{layout.table_prefix(domain, table)}/{layout.MANIFESTS}"
    newest: dict[str, tuple[int, str]] = {}
    for path in store.list(prefix):
        folder, _, name = path.rpartition("/")
        match = layout.MANIFEST_RE.match(name)
        if not match or "/period=" not in folder:
            continue
        period = folder.rsplit("/period=", 1)[1]
        version = int(match.group(1))
        if version > newest.get(period, (0, ""))[0]:
            newest[period] = (version, path)
    result = {}
    for period, (version, path) in newest.items():
        try:
            data = json.loads(store.read_bytes(path))
            result[period] = ArchivedPeriod(period, version, path, data["spec_sha256"], int(data["row_count"]),
                                            data.get("watermark"), int(data.get("deleted_rows") or 0),
                                            (data.get("key_checksum") or {}).get("value"), data.get("mode"),
                                            tuple(data["window"]["columns"]) if data.get("window") else None,
                                            tuple(data["primary_key"]) if data.get("primary_key") else None)
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveStateError(f"manifest {path} is unreadable ({type(exc).__name__}: {exc}); "
                                    "`archival verify` reports the archive's state") from None
    return result
