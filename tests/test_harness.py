"""The test harness itself: what one test starts does not reach into the next."""

from __future__ import annotations

import random

from tests.conftest import end_prefect_events_client


def test_prefect_events_client_ends_with_the_test_that_started_it(prefect_server):
    """Its websocket's pings draw from the global `random`, which a later Hypothesis test in the same
    worker would take for its own use of it."""
    from prefect.events import emit_event
    from prefect.events.worker import EventsWorker

    emit_event(event="archival.test.harness", resource={"prefect.resource.id": "archival.test"})
    assert EventsWorker._instances  # the event started the worker and its websocket
    end_prefect_events_client()
    assert not EventsWorker._instances
    state = random.getstate()
    end_prefect_events_client()  # nothing left to end: no ephemeral server is started, nothing drawn
    assert random.getstate() == state
