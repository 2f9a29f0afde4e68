"""The flow run's heartbeat comes from the flow's body (run/heartbeat.py), not from Prefect's engine,
whose thread sleeps in one-second steps and is joined when the flow ends: the same event, one at
once, none from the engine, and a thread that has ended when the body has (the engine's would still
be asleep)."""

from __future__ import annotations

import threading

import pytest
from prefect import flow
from prefect.context import FlowRunContext
from prefect.events import Event
from prefect.flow_engine import FlowRunEngine
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

import archival.run.heartbeat as heartbeat


@pytest.fixture
def beats(monkeypatch) -> dict[str, list]:
    """The heartbeats emitted: by archival's thread (`body`) and by Prefect's engine (`engine`)."""
    seen: dict[str, list] = {"body": [], "engine": []}
    monkeypatch.setattr(heartbeat, "emit_event", lambda **event: seen["body"].append(event))
    monkeypatch.setattr(FlowRunEngine, "_emit_flow_run_heartbeat",
                        lambda self, *args: seen["engine"].append(self.flow_run.id))
    return seen


@flow(name="heartbeat-probe")
def probe() -> tuple[str, list[str]]:
    with heartbeat.flow_heartbeat():
        running = [t.name for t in threading.enumerate() if t.name == "archival-flow-heartbeat"]
        return str(FlowRunContext.get().flow_run.id), running


def test_the_body_beats_and_the_engine_does_not(prefect_server, beats):
    with heartbeat.engine_heartbeat_replaced():
        run_id, running = probe()
    assert running == ["archival-flow-heartbeat"] and beats["engine"] == []
    [event] = beats["body"]  # one at once; the next only after the interval (180 s by default)
    assert event["event"] == "prefect.flow-run.heartbeat"
    assert event["resource"]["prefect.resource.id"] == f"prefect.flow-run.{run_id}"
    assert Event(**event).related[0].role == "flow"  # what emit_event sends: it validates
    assert not [t for t in threading.enumerate() if t.name == "archival-flow-heartbeat"]  # ended with the body


def test_without_archival_run_the_engine_beats_and_the_body_does_not(prefect_server, beats):
    """A deployment's run, started by a Prefect worker, keeps the engine's heartbeat: never two."""
    probe()
    assert len(beats["engine"]) == 1 and beats["body"] == []


def test_heartbeats_turned_off_stay_off(prefect_server, beats):
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}), heartbeat.engine_heartbeat_replaced():
        _, running = probe()
    assert running == [] and beats == {"body": [], "engine": []}
