"""The circuit breakers' decisions (run/breaker.py); tests/e2e/test_process_hygiene.py shows them in a run."""

from __future__ import annotations

import time

from archival.plan.units import UnitResult
from archival.run.breaker import SourceBreaker, target_trouble


def _failed(error: str, error_class: str = "systemic") -> UnitResult:
    return UnitResult("d.t/2026-01", "failed", error=error, error_class=error_class)


def test_opens_after_failures_in_a_row_on_connection_errors_only():
    breaker = SourceBreaker(2)
    assert not breaker.record("pg", [_failed("ContractError: d.t row id=1: not_null")])  # data: never counts
    assert not breaker.record("pg", [_failed("IOException: connection refused", "transient")])
    assert not breaker.record("pg", [UnitResult("d.t/2026-02", "written")])  # a success closes it again
    assert not breaker.record("pg", [_failed('IOException: password authentication failed for user "x"')])
    assert breaker.record("pg", [_failed("OperationalError: timeout expired", "transient")])
    assert "source 'pg' failed 2 times in a row (last: OperationalError: timeout expired)" in breaker.open["pg"]
    assert not breaker.record("pg", [_failed("x: connection refused", "transient")])  # opened once, said once
    assert not breaker.record("mysql", [_failed("x: connection refused", "transient")])  # per source


def test_a_batch_counts_in_the_order_its_units_ran():
    breaker = SourceBreaker(2)
    down = _failed("IOException: connection refused", "transient")
    assert not breaker.record("pg", [UnitResult("d.t/2026-02", "written"), down])  # failed after the success
    assert breaker.record("pg", [down])
    breaker = SourceBreaker(2)
    assert not breaker.record("pg", [down, UnitResult("d.t/2026-02", "unchanged")])  # answered again since
    assert not breaker.record("pg", [down])



def test_a_success_from_before_a_counted_failure_does_not_close_it():
    """Two lanes: B's batch started before the source went down, A's failure is collected first, then
    B's batch with the success it had before the outage and its own failure: two in a row."""
    breaker = SourceBreaker(2)
    down = _failed("IOException: connection refused", "transient")
    b_started = time.perf_counter()
    assert not breaker.record("pg", [down], started=time.perf_counter())  # lane A
    assert breaker.record("pg", [UnitResult("d.t/2026-02", "written"), down], started=b_started)  # lane B
    fresh = SourceBreaker(2)
    assert not fresh.record("pg", [down], started=time.perf_counter())
    assert not fresh.record("pg", [UnitResult("d.t/2026-03", "written")], started=time.perf_counter())  # answered
    assert not fresh.record("pg", [down], started=time.perf_counter())

def test_an_archive_that_cannot_take_writes_stops_every_unit():
    assert target_trouble([_failed("ContractError: bad row")]) is None
    why = target_trouble([_failed("DiskFull: d.t/2026-01: no space left on device in /a/.work/r (...)")])
    assert why == ("the archive cannot be written (d.t/2026-01: no space left on device in /a/.work/r (...)); "
                   "deferred to the next run")
