"""The demo helpdesk (SQLite) set up for purge tests: its spec with purges on tickets and comments,
archived as of AS_OF."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 26, tzinfo=UTC)
KEY = b"demo-only-not-a-secret"
TABLES = ("helpdesk.tickets", "helpdesk.ticket_comments")


def purge_spec(text: str) -> str:
    """The demo's spec with purges of its own: tickets too, and smaller batches than the demo's."""
    text = "\n".join(line for line in text.splitlines() if not line.startswith("    purge:")) + "\n"
    text = text.replace("    cursor: [updated_at, created_at]\n    lookback: 1d\n",
                        "    cursor: [updated_at, created_at]\n    lookback: 1d\n"
                        "    purge: {after: 180d, batch_rows: 40, pause: 0s}\n")
    window = "    mode: window\n    cursor: created_at\n"
    text = text.replace(window, window + "    purge: {after: 180d, batch_rows: 100, pause: 0s}\n")
    assert text.count("purge:") == 2
    return text


def prepare_demo(folder: Path, small_demo_db: Path, monkeypatch, adjust: Callable[[str], str] = str) -> Path:
    """The demo project in `folder` with its database, the purge spec (changed by `adjust`), archived."""
    monkeypatch.setenv("ARCHIVAL_PII_KEY", KEY.decode())
    (folder / "data").mkdir()
    shutil.copy(small_demo_db, folder / "data" / "helpdesk.db")
    spec = folder / "specs" / "helpdesk.yaml"
    spec.write_text(adjust(purge_spec(spec.read_text())))
    run_units(folder, AS_OF)
    return folder


def db(folder: Path) -> closing[sqlite3.Connection]:
    return closing(sqlite3.connect(folder / "data" / "helpdesk.db", isolation_level=None))


def orphans(folder: Path) -> int:
    """Comments whose ticket is not in the source."""
    with db(folder) as con:
        return con.execute("SELECT count(*) FROM ticket_comments c WHERE tickets_id IS NOT NULL AND NOT EXISTS "
                           "(SELECT 1 FROM tickets t WHERE t.id = c.tickets_id)").fetchone()[0]
