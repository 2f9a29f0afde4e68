"""The flow run's heartbeat: the event Prefect's engine emits (`prefect.flow-run.heartbeat`, what a
zombie-flow automation expects every `flows.heartbeat_frequency` seconds), from a thread that stops
the moment the run's body ends.

Why not the engine's own: Prefect 3.9's heartbeat thread sleeps in one-second steps and the engine
joins it when the flow ends, so every flow run waited after its body: median 0.65 s, up to 1.0 s
(16 runs of an empty flow against a running server; 0.03 s without it). `archival run` turns the
engine's off for the flow it starts (`engine_heartbeat_replaced`, run/flow.py) and the flow's body
beats here at the same interval, from the same settings. A flow run that a Prefect worker starts
from a deployment does not come through `archival run`: the engine's heartbeat stays on there and
nothing beats here, so a run never beats twice."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from prefect import __version__ as prefect_version
from prefect.context import FlowRunContext
from prefect.events import emit_event
from prefect.events.related import tags_as_related_resources
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, get_current_settings, temporary_settings

HEARTBEAT = "prefect.flow-run.heartbeat"

# the interval the settings asked for, while the engine's heartbeat is off (None: no heartbeats)
_INTERVAL: ContextVar[int | None] = ContextVar("archival_flow_heartbeat_seconds", default=None)
JOIN_SECONDS = 5.0  # the thread is a daemon: a stuck emit cannot hold the flow's end longer than this


@contextmanager
def engine_heartbeat_replaced() -> Iterator[None]:
    """Around a flow call: the engine starts no heartbeat thread, and `flow_heartbeat` in the flow's
    body beats at the interval the settings ask for (none when they turn heartbeats off)."""
    token = _INTERVAL.set(get_current_settings().flows.heartbeat_frequency)
    try:
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield
    finally:
        _INTERVAL.reset(token)


@contextmanager
def flow_heartbeat() -> Iterator[None]:
    """In a flow's body: its heartbeat, one at once and one every interval, until the body ends."""
    seconds = _INTERVAL.get()
    run = FlowRunContext.get()
    if seconds is None or run is None or run.flow_run is None:
        yield
        return
    resource, related = _heartbeat_event(run)
    stop = threading.Event()

    def beat() -> None:
        # emit_event logs what it cannot send itself (Prefect's "Error emitting event"); it raises only
        # for an event over the server's size limit, which this small fixed one is not
        while True:
            emit_event(event=HEARTBEAT, resource=resource, related=related)
            if stop.wait(seconds):
                return

    # the thread sees this context's settings (the API the run reports to), as the engine's does
    thread = threading.Thread(target=contextvars.copy_context().run, args=(beat,), daemon=True,
                              name="archival-flow-heartbeat")
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(JOIN_SECONDS)  # at once, unless an emit is under way (it only queues the event)


def _heartbeat_event(run: FlowRunContext) -> tuple[dict[str, str], list]:
    """The resource and related resources of the engine's heartbeat event (flow_engine.py)."""
    flow_run = run.flow_run
    assert flow_run is not None
    resource = {"prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
                "prefect.resource.name": flow_run.name or "", "prefect.version": prefect_version}
    related: list = []
    if flow_run.flow_id:
        related.append({"prefect.resource.id": f"prefect.flow.{flow_run.flow_id}", "prefect.resource.role": "flow",
                        "prefect.resource.name": run.flow.name if run.flow else ""})
    if flow_run.deployment_id:
        related.append({"prefect.resource.id": f"prefect.deployment.{flow_run.deployment_id}",
                        "prefect.resource.role": "deployment"})
    return resource, related + tags_as_related_resources(set(flow_run.tags or []))
