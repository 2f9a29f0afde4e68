"""The purge flow and its generated daily deployment, on the demo."""

from __future__ import annotations

from archival import cli
from archival.run.deployments import render
from archival.spec.load import load_project
from tests.purge.demo import AS_OF
from tests.purge.test_control import demo  # noqa: F401 - the fixture


def test_the_purge_flow_and_its_deployment(demo, prefect_server, capsys):  # noqa: F811
    from archival.run.purge_flow import archival_purge

    assert "flows/purge.py:archival_purge" in render("", load_project(demo))
    spec = demo / "specs" / "helpdesk.yaml"  # the fixture's domain is quiet all day: a flow run would stop
    spec.write_text(spec.read_text().replace('quiet_hours: ["00:00-24:00"]', "quiet_hours: []"))
    would = archival_purge(str(demo), as_of=AS_OF, dry_run=True)
    assert would > 500
    assert archival_purge(str(demo), as_of=AS_OF) == would
    assert archival_purge(str(demo), as_of=AS_OF) <= 7  # tickets: max_rows_per_run 7, the rest of them now
    assert cli.main(["verify", "--project-dir", str(demo)]) == 0
