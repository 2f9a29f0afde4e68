"""The archive's shared pool (archive/round_trips.py): results in order, every call ended before an
error is raised, and a call on the pool that asks for more at once runs them itself instead of
queueing them behind it (a full pool would wait for itself for ever)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from archival.archive import round_trips


def test_results_come_in_order_and_an_error_waits_for_every_call(monkeypatch):
    ended: list[int] = []

    def call(n: int) -> int:
        time.sleep(0.01 * (5 - n))  # the first ones end last
        ended.append(n)
        if n == 1:
            raise ValueError("one")
        return n * 10

    assert round_trips.at_once(lambda n: n * 10, range(5)) == [0, 10, 20, 30, 40]
    with pytest.raises(ValueError, match="one"):
        round_trips.at_once(call, range(5))
    assert sorted(ended) == [0, 1, 2, 3, 4]  # none still running when the caller undoes


def test_a_call_on_the_pool_that_asks_for_more_at_once_does_not_wait_for_itself(monkeypatch):
    monkeypatch.setattr(round_trips, "_POOL", ThreadPoolExecutor(1))  # every thread of the pool busy
    found: list[list[list[int]]] = []
    asking = threading.Thread(target=lambda: found.append(
        round_trips.at_once(lambda n: round_trips.at_once(lambda m: n * m, range(3)), range(2))), daemon=True)
    asking.start()
    asking.join(10)
    assert not asking.is_alive() and found == [[[0, 0, 0], [0, 1, 2]]]


def test_a_forked_child_has_a_pool_of_its_own():
    """A child forked after the pool ran (a process task runner) has none of its parent's threads:
    the parent's pool would count them and never start new ones, so the child's requests would wait
    for ever; the child gets a fresh pool (round_trips._fresh_pool)."""
    code = textwrap.dedent("""
        import os
        from archival.archive import round_trips
        round_trips.at_once(lambda n: n, list(range(round_trips.READERS)))  # every thread started
        pid = os.fork()
        if pid == 0:
            os._exit(0 if round_trips.at_once(lambda n: n + 1, [1, 2]) == [2, 3] else 1)
        print("child", os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "child 0"
