"""A plan whose source does not answer says so: periods it could not check are `unknown` (not "up to
date"), they are not run, and `archival plan` exits 1 naming the source. `--offline` plans without
asking the sources on purpose and keeps exit 0."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

from archival import cli
from tests.conftest import write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 12, 1, tzinfo=UTC)
SPEC = """domain: app
owner: o@example.com
source: s
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: quarter}
"""


def test_an_unreachable_source_makes_periods_unknown_and_plan_exit_1(tmp_path, small_demo_db, capsys):
    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
    folder = write_project(tmp_path, "  s: {type: sqlite, path: data/app.db}", {"app": SPEC})
    run_units(folder, AS_OF)
    (tmp_path / "data" / "app.db").rename(tmp_path / "data" / "moved.db")  # the source is gone
    code = cli.main(["plan", "--project-dir", str(folder), "--as-of", AS_OF.isoformat(), "--json"])
    out, err = capsys.readouterr()
    assert code == 1 and "could not reach s: what depends on it is marked unknown" in err
    plan = json.loads(out)
    assert plan["summary"]["unknown"] == 8 and plan["summary"]["up_to_date"] == 0  # 2025-Q1 .. 2026-Q4 archived
    assert all(u["status"] == "unknown" and "not checked" in u["reason"] for u in plan["units"])
    code = cli.main(["plan", "--project-dir", str(folder), "--as-of", AS_OF.isoformat()])
    assert code == 1 and "UNKNOWN" in capsys.readouterr().out
    assert cli.main(["plan", "--project-dir", str(folder), "--as-of", AS_OF.isoformat(), "--offline"]) == 0
