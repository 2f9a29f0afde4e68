"""Who started a flow run, from the run's own context: asking prefect.runtime for the deployment of a
run that has none costs an API call that reads the flow run (0.17 s a run on a slow day)."""

from __future__ import annotations

import prefect.runtime.deployment as runtime_deployment
from prefect import flow
from prefect.context import FlowRunContext

from archival.record.initiator import who


@flow(name="initiator-probe")
def probe() -> tuple[str, dict]:
    return str(FlowRunContext.get().flow_run.id), who()


def test_a_flow_run_without_deployment_is_named_without_asking_the_api(prefect_server, monkeypatch):
    def no_api_call(*args, **kwargs):
        raise AssertionError("the initiator asked the API for the flow run")

    monkeypatch.setattr(runtime_deployment, "_get_flow_run", no_api_call)
    monkeypatch.delenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", raising=False)
    run_id, found = probe()
    assert found["flow_run"] == run_id and "deployment" not in found and found["user"] and found["host"]


def test_a_deployment_named_by_prefect_runtime_is_kept(prefect_server, monkeypatch):
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__NAME", "helpdesk")  # as a deployment's run sees it
    _, found = probe()
    assert found["deployment"] == "helpdesk"
