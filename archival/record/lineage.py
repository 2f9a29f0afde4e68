"""OpenLineage RunEvents, emitted through the openlineage-python client with a transport that
writes each event as one object `_lineage/<run_id>/<NNNN>-<eventType>.json` into the archive, and,
when archival.yaml has `lineage: {url}`, through its HTTP transport too (Marquez, DataHub, ...).
Events name their input (the source relation, in the source's namespace) and say, per output column,
whether it was copied, hashed or masked; dropped columns are named too."""

from __future__ import annotations

import logging
import threading
import uuid
from concurrent.futures import Future, wait
from dataclasses import dataclass
from datetime import UTC, datetime

import requests
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    column_lineage_dataset,
    error_message_run,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport import Transport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from archival.archive import layout, round_trips
from archival.archive.store import ArchiveConflict, ArchiveStore
from archival.spec.model import LineageTarget

LOG = logging.getLogger("archival.lineage")
PRODUCER = "https://github.com/archival/archival"
NAMESPACE = "archival"


class ArchiveTransport(Transport):
    """Writes each event under the next free sequence number of the run, create-only, so parallel
    units and retried attempts never overwrite one another. The next number is kept here: listing
    the run's events before every event made a run of n units cost O(n^2) listings (1,000 units:
    2,000 listings of up to 2,000 objects, an API call each on S3). A number is taken when an event
    of any type holds it, and a create-only write only sees its own name (`<NNNN>-<type>.json`), so
    a `shared` transport (one of several worker processes of a run) first asks whether another type
    holds the number; a number found taken sends the writer back to the listing."""

    kind = "archive"
    ATTEMPTS = 50
    TYPES = (RunState.START.value, RunState.COMPLETE.value, RunState.FAIL.value)  # what LineageEmitter emits

    def __init__(self, store: ArchiveStore, run_id: str, shared: bool = False):
        self.store, self.run_id, self.shared = store, run_id, shared
        self._lock = threading.Lock()
        self._next: int | None = None  # None: list the run's events to find it

    def _first_free(self) -> int:
        taken = self.store.list(f"_lineage/{self.run_id}")
        return 1 + max((int(p.rsplit("/", 1)[1].split("-")[0]) for p in taken), default=0)

    def _held_by_another_type(self, sequence: int, own: str) -> bool:
        return self.shared and any(self.store.exists(layout.lineage_path(self.run_id, sequence, kind))
                                   for kind in self.TYPES if kind != own)

    def emit(self, event: RunEvent) -> None:
        body = (Serde.to_json(event) + "\n").encode("utf-8")
        kind = event.eventType.value
        with self._lock:
            for _ in range(self.ATTEMPTS):
                sequence = self._next if self._next is not None else self._first_free()
                try:
                    if self._held_by_another_type(sequence, kind):
                        raise ArchiveConflict(f"lineage number {sequence} is taken")
                    self.store.put_new(layout.lineage_path(self.run_id, sequence, kind), body)
                except ArchiveConflict:
                    self._next = None  # taken by another writer of this run: look again
                    continue
                self._next = sequence + 1
                return
            raise ArchiveConflict(f"could not write lineage event for run {self.run_id}")


@dataclass(frozen=True)
class SourceDataset:
    """The relation a unit read, and what its PII rules did to its columns."""

    namespace: str  # postgres://host:port/db (archival/source/namespace.py)
    relation: str
    pii: dict[str, str]  # column -> drop | hash | mask


PII_TRANSFORMS = {"hash": "keyed HMAC-SHA256 of the value (pii: hash)",
                  "mask": "masked: the first character, and an email's domain (pii: mask)"}


def column_lineage(source: SourceDataset, columns: list[str]) -> column_lineage_dataset.ColumnLineageDatasetFacet:
    """Each output column from its source column: IDENTITY, or a masking transformation for hashed
    and masked columns. Dropped columns have no output field: the facet names them in its `dropped`
    property, so a reader sees what was left out on purpose."""
    fields = {}
    for name in columns:
        rule = source.pii.get(name)
        transform = column_lineage_dataset.Transformation(
            type="DIRECT", subtype="TRANSFORMATION" if rule in PII_TRANSFORMS else "IDENTITY",
            description=PII_TRANSFORMS.get(rule or ""), masking=rule in PII_TRANSFORMS)
        fields[name] = column_lineage_dataset.Fields(inputFields=[column_lineage_dataset.InputField(
            namespace=source.namespace, name=source.relation, field=name, transformations=[transform])])
    facet = column_lineage_dataset.ColumnLineageDatasetFacet(fields=fields)
    dropped = sorted(c for c, rule in source.pii.items() if rule == "drop")
    if dropped:
        facet = facet.with_additional_properties(dropped=dropped)
    return facet


class LineageEmitter:
    """One START and one COMPLETE/FAIL per unit attempt; the OpenLineage run id of a unit is derived
    from the archival run id and the unit id, so all attempts of a unit share it."""

    def __init__(self, store: ArchiveStore, run_id: str, target_uri: str, http: LineageTarget | None = None,
                 token: str | None = None, shared: bool = False):
        """`http`: also post each event there (`token`: its bearer token, resolved from the spec's secret).
        `shared`: other processes write this run's events too (worker processes of a flow)."""
        self._starts: dict[str, Future] = {}  # unit id -> its START on its way to the archive
        self.transport = ArchiveTransport(store, run_id, shared)
        self.client = OpenLineageClient(transport=self.transport)
        self.run_id, self.target_uri = run_id, target_uri
        self.http: OpenLineageClient | None = None
        if http is not None:
            config: dict = {"url": http.url, "endpoint": http.endpoint, "timeout": 5.0,
                            "retry": {"total": 2, "backoff_factor": 0.2}}
            if token:
                config["auth"] = {"type": "api_key", "apiKey": token}
            self.http = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))
            self.http_url = http.url

    def unit_run_id(self, unit_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"archival:{self.run_id}:{unit_id}"))

    def _event(self, state: RunState, unit_id: str, job: str, outputs=None, facets=None, inputs=None) -> RunEvent:
        return RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(),
                        run=Run(runId=self.unit_run_id(unit_id), facets=facets or {}),
                        job=Job(namespace=NAMESPACE, name=job), producer=PRODUCER, outputs=outputs or [],
                        inputs=inputs or [])

    def _send(self, event: RunEvent) -> None:
        self.client.emit(event)  # the archive's copy: a failure here fails the unit
        if self.http is not None:
            try:
                self.http.emit(event)
            except (requests.RequestException, OSError) as exc:  # lineage is not the archive: say so, go on
                self.http = None  # one warning and no retry per event for the rest of the run
                LOG.warning("lineage event not delivered to %s (%s); this run sends no more there, the archive's "
                            "_lineage/%s holds every event", self.http_url, type(exc).__name__, self.run_id)

    def start(self, unit_id: str, job: str) -> None:
        """The unit's START goes to the archive on the archive's request pool while the unit reads (on S3
        one round trip of a small unit's dozen, a fsync on a local target); `started` waits for it."""
        self._starts[unit_id] = round_trips.submit(self._send, self._event(RunState.START, unit_id, job))

    def started(self, unit_id: str) -> None:
        """Waits until the unit's START is in the archive; its write's error is raised here, so the unit
        fails before anything of it is published (the commit asks first)."""
        future = self._starts.pop(unit_id, None)
        if future is not None:
            future.result()

    def complete(self, unit_id: str, job: str, dataset: str, columns: list[tuple[str, str]],
                 rows: int, size: int, files: int, source: SourceDataset | None = None) -> None:
        self.started(unit_id)  # after its START, whoever asked first
        facets: dict = {"schema": schema_dataset.SchemaDatasetFacet(
            fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns])}
        inputs = []
        if source is not None:
            inputs = [InputDataset(namespace=source.namespace, name=source.relation)]
            facets["columnLineage"] = column_lineage(source, [n for n, _ in columns])
        output = OutputDataset(namespace=self.target_uri, name=dataset, facets=facets,
                               outputFacets={"outputStatistics":
                                             output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                                                 rowCount=rows, size=size, fileCount=files)})
        self._send(self._event(RunState.COMPLETE, unit_id, job, outputs=[output], inputs=inputs))

    def fail(self, unit_id: str, job: str, message: str) -> None:
        """After the unit's START has been written or has failed (then the unit's error may be that
        failure, which the caller raises: it is not raised here again)."""
        future = self._starts.pop(unit_id, None)
        if future is not None:
            wait([future])  # its START, written or not, comes first
            if future.exception() is not None:
                LOG.warning("%s: its lineage START event was not written (%s)", unit_id, future.exception())
        facet = error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage="python")
        self._send(self._event(RunState.FAIL, unit_id, job, facets={"errorMessage": facet}))
