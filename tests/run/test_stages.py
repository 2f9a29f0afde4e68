"""The stage clock counts the time spent waiting for each batch to `read`, not the consumer's time."""

from __future__ import annotations

import time

from archival.run.stages import STAGES, StageClock


def _slow_source(n: int, delay: float):
    for i in range(n):
        time.sleep(delay)
        yield i


def test_read_counts_waiting_only_and_stages_add_up():
    clock = StageClock()
    seen = []
    for item in clock.timed("read", _slow_source(3, 0.02)):
        with clock.stage("write"):
            time.sleep(0.05)
        seen.append(item)
    assert seen == [0, 1, 2]
    assert clock.seconds["read"] >= 0.06 and clock.seconds["write"] >= 0.15
    assert clock.seconds["read"] < 0.15  # had the consumer's sleeps been counted: >= 0.21
    assert set(clock.rounded()) == set(STAGES) and clock.seconds["pii"] == 0.0
