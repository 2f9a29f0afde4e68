"""Loading the demo and hand-written projects into the model: defaults, inheritance, all errors at once."""

import dataclasses
import json
import shutil

import jsonschema
import pytest
import yaml

from archival.archive.manifest import manifest_schema_text
from archival.source.types import types_markdown
from archival.spec.docs import specs_markdown
from archival.spec.errors import SpecErrors
from archival.spec.jsonschema import json_schema, json_schema_text
from archival.spec.load import load_project
from archival.spec.model import table_fingerprint
from tests.conftest import CASES, ROOT


def test_demo_project_loads(demo_project):
    project = load_project(demo_project)
    domain = project.domain("helpdesk")
    assert {t.mode for t in domain.tables} == {"full", "window", "incremental"}
    tickets = domain.table("tickets")
    assert tickets.cursor == ("updated_at", "created_at")
    assert tickets.period == "month" and tickets.lag.seconds == 3600  # inherited from defaults
    assert tickets.retention.cold.text == "7y" and tickets.retention.then == "delete"
    assert tickets.on_invalid == "quarantine" and tickets.drift == "evolve" and tickets.timezone == "UTC"
    assert domain.table("agents").period is None
    assert domain.timezone == "Europe/Berlin"
    assert any(c.pii == "hash" for c in domain.table("customers").columns)
    assert project.pii_hash_key is not None and str(project.pii_hash_key) == "env:ARCHIVAL_PII_KEY"
    assert domain.relations[0].from_table == "tickets"
    assert tickets.location.file == "specs/helpdesk.yaml" and tickets.location.line > 1
    assert project.source_of_table(tickets) is project.sources[domain.source]
    with pytest.raises(KeyError, match="table elsewhere.tickets has no domain 'elsewhere'"):
        project.source_of_table(dataclasses.replace(tickets, domain="elsewhere"))


def test_three_mistakes_in_two_files_reported_together(tmp_path):
    shutil.copytree(CASES / "specs" / "base", tmp_path, dirs_exist_ok=True)
    (tmp_path / "archival.yaml").write_text(
        (tmp_path / "archival.yaml").read_text().replace("max_parallel", "x") + "limits: {max_paralel_per_source: 2}\n")
    spec = tmp_path / "specs" / "sales.yaml"
    spec.write_text(spec.read_text().replace("period: month", "period: monthly").replace("mode: full", "mode: ful"))
    with pytest.raises(SpecErrors) as caught:
        load_project(tmp_path)
    found = [(e.file, e.line) for e in caught.value.errors]
    assert found == [("archival.yaml", 10), ("specs/sales.yaml", 11), ("specs/sales.yaml", 15)]
    assert "3 errors in 2 file(s)" in caught.value.render()


def test_missing_project_file(tmp_path):
    with pytest.raises(SpecErrors) as caught:
        load_project(tmp_path)
    assert "no archival.yaml" in caught.value.render()


def test_fingerprint_ignores_prose_and_lag_but_not_content(demo_project):
    spec = demo_project / "specs" / "helpdesk.yaml"
    original = spec.read_text()

    def fingerprint():
        project = load_project(demo_project)
        return table_fingerprint(project.domain("helpdesk").table("tickets"), project.sources["helpdesk"])

    before = fingerprint()
    spec.write_text(original.replace("lookback: 1d", "lookback: 2d").replace("support-ops@", "ops@"))
    assert fingerprint() == before
    spec.write_text(original.replace("cursor: [updated_at, created_at]", "cursor: [created_at]"))
    assert fingerprint() != before


def test_committed_json_schemas_are_current():
    for kind in ("project", "domain"):
        committed = (ROOT / "schemas" / f"{kind}.schema.json").read_text()
        assert committed == json_schema_text(kind), f"schemas/{kind}.schema.json is stale: run `make schemas`"
    committed = (ROOT / "schemas" / "manifest.schema.json").read_text()
    assert committed == manifest_schema_text(), "schemas/manifest.schema.json is stale: run `make schemas`"


def test_committed_docs_are_current():
    assert (ROOT / "docs" / "specs.md").read_text() == specs_markdown(), "docs/specs.md is stale: `make schemas`"
    assert (ROOT / "docs" / "types.md").read_text() == types_markdown(), "docs/types.md is stale: `make schemas`"


def test_examples_match_json_schema_and_carry_modeline():
    for path, kind in [(ROOT / "archival.yaml", "project"), *[(p, "domain") for p in (ROOT / "specs").glob("*.yaml")]]:
        text = path.read_text()
        assert text.startswith("# yaml-language-server: $schema="), f"{path.name} lacks the modeline"
        jsonschema.validate(yaml.safe_load(text), json_schema(kind))
    json.dumps(json_schema("domain"))


def test_json_schema_rejects_what_cerberus_rejects():
    bad = {"domain": "sales", "owner": "x", "source": "s", "tables": {"t": {"relation": "t", "primary_key": ["id"],
                                                                          "mdoe": "full"}}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, json_schema("domain"))


def test_csv_table_on_a_target_that_encrypts_files_is_refused(tmp_path):
    """CSV cannot carry Parquet modular encryption: the table's format is named, not silently written plain."""
    from archival.spec.errors import SpecErrors
    from tests.conftest import write_project

    folder = write_project(tmp_path, "  app: {type: sqlite, path: app.db}", {"shop": """domain: shop
owner: o@example.com
source: app
tables:
  orders: {relation: orders, primary_key: [id], format: csv}
"""}, extra="    sealed: {type: local, path: ./sealed, encryption: {parquet: {key: 'env:ARCHIVE_KEY'}}}\n")
    text = (folder / "archival.yaml").read_text()
    (folder / "archival.yaml").write_text(text.replace("    local: {type: local, path: ./archive}\n", "")
                                          .replace("default: local", "default: sealed"))
    with pytest.raises(SpecErrors) as caught:
        load_project(folder)
    rendered = caught.value.render()
    assert "specs/shop.yaml:5:" in rendered and "written as CSV, and target 'sealed' encrypts" in rendered
