"""Fault injection for crash and race tests, as TiKV's failpoints do it. ARCHIVAL_FAILPOINT names a
point, optionally one unit, and an action:

    ARCHIVAL_FAILPOINT=record:manifest                      SIGKILL at that point (as the OOM killer would)
    ARCHIVAL_FAILPOINT=record:parts@shop.orders/full        only in that unit
    ARCHIVAL_FAILPOINT=record:parts@shop.orders/full=sleep:5  wait there 5 seconds (a slow unit)
    ARCHIVAL_FAILPOINT=s3:part=nth:3                        SIGKILL the 3rd time the point is reached

Points: record:parts, record:orphans, record:manifest, record:audit, run:record; s3:part (after each
part of a multipart upload; unit: the object key); purge:locked, purge:recorded, purge:deleted,
purge:committed (unit `domain.table/period`), purge:record. Unset (always, outside tests), a failpoint
costs one dictionary lookup."""

from __future__ import annotations

import os
import signal
import time

ENV = "ARCHIVAL_FAILPOINT"
_REACHED: dict[str, int] = {}  # nth: how often each point was reached in this process


def failpoint(name: str, unit: str = "") -> None:
    wanted = os.environ.get(ENV)
    if not wanted:
        return
    point, _, action = wanted.partition("=")
    if point not in (name, f"{name}@{unit}"):
        return
    if action.startswith("sleep:"):
        time.sleep(float(action.removeprefix("sleep:")))
        return
    if action.startswith("nth:"):
        _REACHED[name] = _REACHED.get(name, 0) + 1
        if _REACHED[name] < int(action.removeprefix("nth:")):
            return
    os.kill(os.getpid(), signal.SIGKILL)
