"""The stage clock counts the time spent waiting for each batch to `read`, not the consumer's time,
and names stages in the order they first ran. A fake clock makes it exact: no wall-clock thresholds
on a loaded machine (speed belongs to bench/)."""

from __future__ import annotations

from archival.run.clock import StageClock


class FakeTime:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _slow_source(time: FakeTime, n: int, delay: float):
    for i in range(n):
        time.sleep(delay)
        yield i


def test_read_counts_waiting_only_and_stages_add_up():
    time = FakeTime()
    clock = StageClock(now=time)
    seen = []
    for item in clock.timed("read", _slow_source(time, 3, 0.02)):
        with clock.stage("parts"):
            time.sleep(0.05)
        seen.append(item)
    assert seen == [0, 1, 2]
    assert clock.rounded() == {"read": 0.06, "parts": 0.15}  # had the consumer's time been counted: read 0.21
    assert list(clock.seconds) == ["read", "parts"]
