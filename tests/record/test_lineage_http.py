"""OpenLineage events name the source relation they read (in the source's namespace, never with its
credentials), say per output column whether it was copied, hashed or masked and which columns were
dropped, and also go to an HTTP endpoint (a local receiver here) with the bearer token from the spec's
secret, which never lands in the archive."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from archival.source.namespace import source_namespace
from archival.spec.model import Source
from tests.purge.demo import prepare_demo

TOKEN = "canary-lineage-t0ken"


@pytest.fixture
def receiver():
    got: list[tuple[dict, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((dict(self.headers), json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()


def test_events_reach_the_endpoint_with_column_lineage(demo_project, small_demo_db, monkeypatch, receiver):
    url, got = receiver
    monkeypatch.setenv("LINEAGE_KEY", TOKEN)
    with open(demo_project / "archival.yaml", "a") as spec:
        spec.write(f"lineage: {{url: '{url}', api_key: env:LINEAGE_KEY}}\n")
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    assert got and all(h.get("Authorization") == f"Bearer {TOKEN}" for h, _ in got)
    complete = {e["job"]["name"]: e for _, e in got if e["eventType"] == "COMPLETE"}
    customers = complete["helpdesk.customers"]
    assert customers["inputs"] == [{"namespace": f"sqlite://{(folder / 'data' / 'helpdesk.db').resolve()}",
                                    "name": "customers", "facets": {}, "inputFacets": {}}]
    lineage = customers["outputs"][0]["facets"]["columnLineage"]
    email = lineage["fields"]["email"]["inputFields"][0]["transformations"][0]
    assert email["masking"] is True and "HMAC" in email["description"]
    assert lineage["fields"]["id"]["inputFields"][0]["transformations"][0]["subtype"] == "IDENTITY"
    assert lineage["dropped"] == ["phone"] and "phone" not in lineage["fields"]
    archived = [p.read_text() for p in (folder / "archive" / "_lineage").rglob("*.json")]
    assert len(archived) == len(got) and not any(TOKEN in text for text in archived)


def test_a_source_namespace_never_carries_credentials(tmp_path):
    uri = Source("app", "postgres", dsn="postgresql://archiver:s3cret@db.example:6543/helpdesk")
    pairs = Source("app", "mysql", dsn="host=10.0.0.7 user=archiver password=s3cret database=shop")
    assert source_namespace(uri, tmp_path) == "postgres://db.example:6543/helpdesk"
    assert source_namespace(pairs, tmp_path) == "mysql://10.0.0.7:3306/shop"


def test_an_unreachable_endpoint_does_not_fail_the_export(demo_project, small_demo_db, monkeypatch, caplog):
    with open(demo_project / "archival.yaml", "a") as spec:
        spec.write("lineage: {url: 'http://127.0.0.1:9'}\n")  # nothing listens there
    folder = prepare_demo(demo_project, small_demo_db, monkeypatch)
    assert list((folder / "archive" / "_lineage").rglob("*COMPLETE.json"))  # the archive's copy is complete
    assert "lineage event not delivered to http://127.0.0.1:9" in caplog.text
