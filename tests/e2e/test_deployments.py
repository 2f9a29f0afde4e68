"""prefect.yaml's generated deployments follow the specs; hand-written parts stay; Prefect accepts it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from archival import cli
from archival.run.deployments import render
from archival.spec.load import load_project
from tests.conftest import ROOT


def test_committed_prefect_yaml_is_current():
    text = (ROOT / "prefect.yaml").read_text()
    assert render(text, load_project(ROOT)) == text, "prefect.yaml is stale: run `archival deployments`"


def test_follows_specs_and_keeps_hand_written_parts(demo_project, capsys):
    shutil.copy(ROOT / "prefect.yaml", demo_project / "prefect.yaml")
    spec = demo_project / "specs" / "helpdesk.yaml"
    spec.write_text(spec.read_text().replace('schedule: {cron: "30 2 * * *", timezone: Europe/Berlin}\n', ""))
    (demo_project / "specs" / "billing.yaml").write_text(
        "domain: billing\nowner: o@example.com\nsource: helpdesk\nschedule: {cron: '0 3 * * 1'}\n"
        "tables:\n  labels: {relation: labels, primary_key: [id]}\n")
    assert cli.main(["deployments", "--check", "--project-dir", str(demo_project)]) == 1
    assert cli.main(["deployments", "--project-dir", str(demo_project), "--work-pool", "k8s"]) == 0
    text = (demo_project / "prefect.yaml").read_text()
    assert "# hand-written: reconcile every domain each Sunday night" in text and "name: reconcile-all" in text
    assert "- domain:billing" in text and "cron: 0 3 * * 1" in text and "name: k8s" in text
    helpdesk = text[text.index("- name: helpdesk"):]
    assert "schedules: []" in helpdesk  # the schedule left the spec, so it left the deployment
    assert cli.main(["deployments", "--check", "--project-dir", str(demo_project), "--work-pool", "k8s"]) == 0


def test_prefect_deploy_accepts_the_file(prefect_server, tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value(), "ARCHIVAL_PROJECT_DIR": str(ROOT)}
    prefect = str(Path(sys.executable).parent / "prefect")
    subprocess.run([prefect, "work-pool", "create", "archival", "--type", "process"], env=env, cwd=ROOT,
                   capture_output=True, text=True, timeout=120)
    done = subprocess.run([prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        names = {d.name for d in client.read_deployments()}
    assert {"helpdesk", "reconcile-all"} <= names
