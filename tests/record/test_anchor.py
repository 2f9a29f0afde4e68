"""The audit head's anchor in a Prefect Variable: created by the first command, then updated with one
request (Prefect's Variable.set read it before and after: three requests at the end of every run)."""

from __future__ import annotations

import uuid

from prefect.client.orchestration import SyncPrefectClient
from prefect.variables import Variable

from archival.archive.store import LocalStore
from archival.record import audit
from archival.record.anchor import anchors, record_head, variable_name


def test_the_anchor_is_created_then_updated_without_reading_it(prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_server)
    store, project = LocalStore(tmp_path / "archive"), f"anchor-{uuid.uuid4().hex[:8]}"
    name = variable_name(project, store)
    try:
        audit.append(store, {"action": "probe"})
        reads = []
        real = SyncPrefectClient.read_variable_by_name
        monkeypatch.setattr(SyncPrefectClient, "read_variable_by_name",
                            lambda self, n: reads.append(n) or real(self, n))
        first = record_head(store, tmp_path, project)
        audit.append(store, {"action": "probe"})
        second = record_head(store, tmp_path, project)
        assert reads == []
        monkeypatch.setattr(SyncPrefectClient, "read_variable_by_name", real)
        assert first["sequence"] == 1 and second["sequence"] == 2
        assert Variable.get(name) == second
        assert anchors(tmp_path, project, store)[f"Prefect Variable {name}"] == second
    finally:
        Variable.unset(name)
