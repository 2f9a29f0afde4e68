"""At most `max_parallel` units read one source at once, on two layers:

- the flow admits units (`Admission`): a local limit that holds for every task runner, threads,
  processes or Dask workers alike, because the flow process is the one that submits;
- with a Prefect server configured (PREFECT_API_URL), every unit also holds a slot of the global
  concurrency limit `archival-source-<name>` while it reads, so separate flow runs reading the same
  source (one deployment per domain, a manual run beside a scheduled one) share the limit too.

The spec is the source of truth for the limit: a run sets the global limit to the spec's value, so
throttling a source is a reviewed change, not a click that the next run silently keeps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from archival.spec.model import Project

# a slot's lease outlives a crashed worker by at most this long; live holders renew it
LEASE_SECONDS = 300


def source_limit(project: Project, source_name: str) -> int:
    source = project.sources[source_name]
    return source.max_parallel or project.limits.max_parallel_per_source


def global_limit_name(source_name: str) -> str:
    return f"archival-source-{source_name}"


def server_configured() -> bool:
    """A Prefect server that other runs share; the temporary one a bare CLI run starts is private."""
    from prefect.settings import get_current_settings

    from archival.run.server import PRIVATE_URLS

    url = get_current_settings().api.url
    return bool(url) and url not in PRIVATE_URLS


def sync_global_limits(project: Project, source_names: set[str]) -> dict[str, int]:
    """Create or update the global limit of each source to the spec's value; returns name -> limit."""
    from prefect import get_client
    from prefect.exceptions import ObjectAlreadyExists

    wanted = {global_limit_name(name): source_limit(project, name) for name in sorted(source_names)}
    with get_client(sync_client=True) as client:
        for name, limit in wanted.items():
            try:
                client.upsert_global_concurrency_limit_by_name(name, limit)
            except ObjectAlreadyExists:  # the upsert is read-then-create: a run starting beside us made it
                client.upsert_global_concurrency_limit_by_name(name, limit)
    return wanted


@contextmanager
def global_slot(source_name: str, enabled: bool) -> Iterator[None]:
    """Hold one slot of the source's global limit (strict: a missing limit is an error, not a free pass)."""
    if not enabled:
        yield
        return
    from prefect.concurrency.sync import concurrency

    with concurrency(global_limit_name(source_name), occupy=1, strict=True, lease_duration=LEASE_SECONDS):
        yield


class Admission:
    """Which waiting items may start: in plan order (so periods drain oldest first), skipping items
    whose source already has `max_parallel` batches in flight. A batch is one item, or several
    consecutive items of one source that one task runs one after another (`batch_size`): one task
    and one global slot for many small units."""

    def __init__(self, project: Project, units: list):
        self.project = project
        self.waiting = list(units)
        self.in_flight: Counter[str] = Counter()

    def admit(self, batch_size: Callable[[str, int, int], int] | None = None) -> list[list]:
        """`batch_size(source, waiting of that source, its limit)`: how many items the next batch of
        that source takes (1 without it). One pass over the waiting items (a run of thousands of
        small units admits thousands of times)."""
        per_source: dict[str, list] = {}
        for item in self.waiting:
            per_source.setdefault(item.source, []).append(item)
        started, taken = [], set()
        for item in self.waiting:
            source = item.source
            if id(item) in taken or self.in_flight[source] >= source_limit(self.project, source):
                continue
            left = per_source[source]  # this source's untaken items in plan order: `item` first
            batch = left[:max(1, batch_size(source, len(left), source_limit(self.project, source))
                              if batch_size else 1)]
            del left[:len(batch)]
            taken.update(id(b) for b in batch)
            self.in_flight[source] += 1
            started.append(batch)
        if taken:
            self.waiting = [w for w in self.waiting if id(w) not in taken]
        return started

    def finished(self, source: str, unrun: list | None = None) -> None:
        """A batch of `source` ended; `unrun`: its items that did not start, waiting again first."""
        self.in_flight[source] -= 1
        if unrun:
            self.waiting = list(unrun) + self.waiting

    def withdraw(self, source: str) -> list:
        """The waiting items of one source (its breaker opened), in plan order."""
        left = [item for item in self.waiting if item.source == source]
        self.waiting = [item for item in self.waiting if item.source != source]
        return left

    def withdraw_all(self) -> list:
        """Items that will not start in this run (the quota is spent), in plan order."""
        left, self.waiting = self.waiting, []
        return left
