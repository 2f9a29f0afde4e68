"""OpenLineage RunEvents, emitted through the openlineage-python client with a transport that
writes each event as one object `_lineage/<run_id>/<NNNN>-<eventType>.json` into the archive."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    error_message_run,
    output_statistics_output_dataset,
    schema_dataset,
)
from openlineage.client.serde import Serde
from openlineage.client.transport import Transport

from archival.archive import layout
from archival.archive.store import ArchiveConflict, ArchiveStore

PRODUCER = "https://github.com/archival/archival"
NAMESPACE = "archival"


class ArchiveTransport(Transport):
    """Writes each event under the next free sequence number of the run, create-only, so parallel
    units and retried attempts never overwrite one another."""

    kind = "archive"

    def __init__(self, store: ArchiveStore, run_id: str):
        self.store, self.run_id = store, run_id
        self._lock = threading.Lock()

    def emit(self, event: RunEvent) -> None:
        body = (Serde.to_json(event) + "\n").encode("utf-8")
        with self._lock:
            for _ in range(50):
                taken = self.store.list(f"_lineage/{self.run_id}")
                sequence = 1 + max((int(p.rsplit("/", 1)[1].split("-")[0]) for p in taken), default=0)
                try:
                    self.store.put_new(layout.lineage_path(self.run_id, sequence, event.eventType.value), body)
                    return
                except ArchiveConflict:
                    continue
            raise ArchiveConflict(f"could not write lineage event for run {self.run_id}")


class LineageEmitter:
    """One START and one COMPLETE/FAIL per unit attempt; the OpenLineage run id of a unit is derived
    from the archival run id and the unit id, so all attempts of a unit share it."""

    def __init__(self, store: ArchiveStore, run_id: str, target_uri: str):
        self.transport = ArchiveTransport(store, run_id)
        self.client = OpenLineageClient(transport=self.transport)
        self.run_id, self.target_uri = run_id, target_uri

    def unit_run_id(self, unit_id: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"archival:{self.run_id}:{unit_id}"))

    def _emit(self, state: RunState, unit_id: str, job: str, outputs=None, facets=None) -> None:
        event = RunEvent(eventType=state, eventTime=datetime.now(UTC).isoformat(),
                         run=Run(runId=self.unit_run_id(unit_id), facets=facets or {}),
                         job=Job(namespace=NAMESPACE, name=job), producer=PRODUCER, outputs=outputs or [])
        self.client.emit(event)

    def start(self, unit_id: str, job: str) -> None:
        self._emit(RunState.START, unit_id, job)

    def complete(self, unit_id: str, job: str, dataset: str, columns: list[tuple[str, str]],
                 rows: int, size: int, files: int) -> None:
        output = OutputDataset(namespace=self.target_uri, name=dataset, facets={
            "schema": schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in columns]),
        }, outputFacets={"outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
            rowCount=rows, size=size, fileCount=files)})
        self._emit(RunState.COMPLETE, unit_id, job, outputs=[output])

    def fail(self, unit_id: str, job: str, message: str) -> None:
        facet = error_message_run.ErrorMessageRunFacet(message=message, programmingLanguage="python")
        self._emit(RunState.FAIL, unit_id, job, facets={"errorMessage": facet})
