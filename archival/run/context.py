"""Everything one run shares: the project, the archive store, ids, scratch space and tuning knobs.

A RunContext travels to process and Dask workers by pickle. What must not travel is left out and
rebuilt there: the store (boto clients do not pickle; the worker opens its own from the target's
credentials) and the PII hash key (a secret: each worker resolves it from its own environment)."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from archival.archive.store import ArchiveStore, LocalStore
from archival.archive.targets import open_store
from archival.source.secrets import resolve
from archival.source.shared import open_shared
from archival.spec.model import Project

if TYPE_CHECKING:
    from archival.record.lineage import LineageEmitter


@dataclass(frozen=True)
class Tuning:
    batch_rows: int = 65_536  # rows per Arrow batch from DuckDB: bounds memory
    row_group_rows: int = 131_072
    target_file_bytes: int = 256 * 1024 * 1024  # a period larger than this is split into parts
    memory_limit: str = "1GB"  # DuckDB, per unit; sorts spill to disk beyond it
    # DuckDB threads per unit: the hashing and checks scale with cores (read from one connection does not)
    threads: int = field(default_factory=lambda: max(2, min(os.cpu_count() or 2, 16)))
    # parts written but not yet uploaded (a remote target, write/spool.py): beyond it the reader waits
    spool_bytes: int = 512 * 1024 * 1024
    # a unit with at least this many source rows runs its stream's tail on a second thread (run/tail.py)
    tail_min_rows: int = 262_144


def utc_now() -> datetime:
    return datetime.now(UTC)




@dataclass
class RunContext:
    project: Project
    store: ArchiveStore
    target: str
    run_id: str
    tuning: Tuning = field(default_factory=Tuning)
    pii_key: bytes | None = None
    shared_snapshots: dict[str, str] = field(default_factory=dict)  # source name -> PostgreSQL snapshot id
    clock: Callable[[], datetime] = field(default=utc_now, repr=False)  # tests pin it
    ignore_quiet_hours: bool = False  # an operator's manual run, on purpose
    global_limits: bool = False  # hold Prefect global concurrency slots per source (a server is configured)
    completed_runs: frozenset[str] = frozenset()  # runs with a run record: their manifests are all recorded
    lineage_shared: bool = False  # set on arrival in a worker process: other workers write the run's events
    _lineage: LineageEmitter | None = field(default=None, repr=False)
    _lineage_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def lineage(self) -> LineageEmitter:
        """One emitter per process, made on first use (units on threads ask for it at the same time)."""
        with self._lineage_lock:
            if self._lineage is None:
                from archival.record.lineage import LineageEmitter  # OpenLineage: once a unit runs

                http = self.project.lineage
                token = resolve(http.api_key, "lineage.api_key").value if http and http.api_key else None
                self._lineage = LineageEmitter(self.store, self.run_id, self.store.uri(), http, token,
                                               shared=self.lineage_shared)
            return self._lineage

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.update(store=None, pii_key=None, _lineage=None)
        del state["_lineage_lock"]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.lineage_shared = True  # a context that crossed processes: its run has several writers
        self._lineage_lock = threading.Lock()
        self.store = open_store(self.project, self.target)
        self.load_pii_key()

    @property
    def work_root(self) -> Path:
        if isinstance(self.store, LocalStore):
            return self.store.work_dir() / self.run_id
        return Path(tempfile.gettempdir()) / "archival-work" / self.run_id

    def sweep_stale_work(self, older_than_hours: float = 24) -> None:
        """Remove scratch folders that killed runs left behind. Only old ones: a concurrent run's
        folder is young and must stay."""
        parent = self.work_root.parent
        if not parent.is_dir():
            return
        cutoff = time.time() - older_than_hours * 3600
        for folder in parent.iterdir():
            if folder.is_dir() and folder.name != self.run_id and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)

    def load_pii_key(self) -> None:
        if self.project.pii_hash_key is not None and self.pii_key is None:
            self.pii_key = resolve(self.project.pii_hash_key, "pii.hash_key").value.encode("utf-8")


@contextmanager
def shared_snapshots(ctx: RunContext, source_names: set[str]) -> Iterator[list[str]]:
    """While the block runs, every PostgreSQL unit of `ctx` reads its source's one exported snapshot.
    Yields the problems of sources that could not export one (their units read one snapshot each)."""
    sources = [ctx.project.sources[name] for name in sorted(source_names)]
    shared, problems = open_shared(sources, ctx.project.root)
    ctx.shared_snapshots = {name: snap.id for name, snap in shared.items()}
    try:
        yield problems
    finally:
        ctx.shared_snapshots = {}
        for snap in shared.values():
            snap.close()
