"""`archival init --from nocodb|directus` on the helpdesk fixtures (real NocoDB and Directus wrote them
through their REST APIs): the generated spec is pinned (tests/cases/platform/, reviewed by hand;
regenerate with UPDATE_GOLDEN=1 and review the diff), and
with no hand edit `validate --connect`, `run` and `reconcile` succeed, every table of the app is
archived, every e-mail and phone column is hashed or masked and the junction tables are covered by
relations. Rerunning init keeps hand edits and adds what is new in the app."""

from __future__ import annotations

import json
import os
import re

import pytest

from archival import cli
from archival.spec.load import load_project
from tests.conftest import ROOT, write_project

CASES = ROOT / "tests" / "cases" / "platform"
AS_OF = "2026-11-26T12:00:00Z"


def _project(tmp_path, monkeypatch, dsn: str):
    monkeypatch.setenv("APP_DSN", dsn)
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "k" * 32)
    folder = write_project(tmp_path, "  other: {type: sqlite, path: other.db}", {},
                           extra="pii: {hash_key: env:ARCHIVAL_PII_KEY}\n")
    return folder


def _pinned(text: str) -> str:
    return re.sub(r" on \d{4}-\d{2}-\d{2}\.", " on <today>.", text)


def _init_run_reconcile(folder, capsys, platform: str, golden: str, extra: list[str]) -> dict:
    args = ["--project-dir", str(folder)]
    assert cli.main(["init", *args, "--from", platform, "--source", "app", "--dsn", "env:APP_DSN",
                     "--owner", "support@example.com", *extra]) == 0
    out = capsys.readouterr().out
    assert "archival.yaml: added source app" in out
    spec = next((folder / "specs").glob("*.yaml"))
    if os.environ.get("UPDATE_GOLDEN"):
        (CASES / golden).write_text(_pinned(spec.read_text()))
    assert _pinned(spec.read_text()) == (CASES / golden).read_text()
    assert cli.main(["validate", "--connect", *args]) == 0, capsys.readouterr().err
    assert cli.main(["run", *args, "--as-of", AS_OF, "--no-progress"]) == 0
    capsys.readouterr()
    assert cli.main(["reconcile", *args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    project = load_project(folder)
    tables = [t for d in project.domains for t in d.tables]
    archived = {p["table"] for p in report["periods"]}
    assert archived == {t.qualified_name for t in tables} and len(tables) == 6
    contact = [c for t in tables for c in t.columns if re.search(r"mail|phone", c.name)]
    assert contact and all(c.pii in ("hash", "mask") for c in contact)
    junctions = [t for t in tables if "labels" in t.name and t.name != "labels"]
    related = {r.from_table for d in project.domains for r in d.relations}
    assert len(junctions) == 1 and junctions[0].name in related
    return report


def test_nocodb(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, _ = nocodb_pg
    folder = _project(tmp_path, monkeypatch, dsn)
    _init_run_reconcile(folder, capsys, "nocodb", "nocodb_helpdesk.yaml", [])


def test_directus(directus_pg, tmp_path, monkeypatch, capsys):
    folder = _project(tmp_path, monkeypatch, directus_pg)
    _init_run_reconcile(folder, capsys, "directus", "directus_helpdesk.yaml", ["--domain", "helpdesk"])


@pytest.fixture
def nocodb_project(nocodb_pg, tmp_path, monkeypatch, capsys):
    dsn, schema = nocodb_pg
    folder = _project(tmp_path, monkeypatch, dsn)
    assert cli.main(["init", "--project-dir", str(folder), "--from", "nocodb", "--source", "app", "--dsn",
                     "env:APP_DSN", "--owner", "o@example.com", "--domain", "helpdesk"]) == 0
    capsys.readouterr()
    return folder, dsn, schema


def _change_the_app(dsn: str, schema: str) -> None:
    """What a NocoDB user does in the UI: rename a field, delete one, add one."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as con:
        model = f"(SELECT id FROM nc_models_v2 WHERE table_name = 'customers' AND base_id = '{schema}')"
        con.execute(f"UPDATE nc_columns_v2 SET title = 'Customer Name' WHERE column_name = 'name' "
                    f"AND fk_model_id = {model}")
        con.execute(f"DELETE FROM nc_columns_v2 WHERE column_name = 'company' AND fk_model_id = {model}")
        con.execute(f"ALTER TABLE {schema}.customers DROP COLUMN company")
        con.execute(f"ALTER TABLE {schema}.customers ADD COLUMN vip boolean")
        con.execute("INSERT INTO nc_columns_v2 (id, base_id, fk_model_id, title, column_name, uidt) SELECT 'cvip', "
                    f"base_id, fk_model_id, 'VIP', 'vip', 'Checkbox' FROM nc_columns_v2 WHERE column_name = 'email' "
                    f"AND fk_model_id = {model}")


def test_validate_connect_compares_the_specs_with_the_app(nocodb_project, capsys):
    folder, dsn, schema = nocodb_project
    _change_the_app(dsn, schema)
    assert cli.main(["validate", "--connect", "--project-dir", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "warning: specs/helpdesk.yaml:" in err and ": NocoDB calls column 'name' of helpdesk.customers " \
        "'Customer Name', the spec says 'Name' (renamed in the app; the column is the same)" in err
    assert "field 'company' of helpdesk.customers is no longer in NocoDB table 'customers': removed in the app?" in err
    assert "review: specs/helpdesk.yaml:" in err and "new field in NocoDB: helpdesk.customers.vip ('VIP', Checkbox)" \
        in err


def test_init_again_keeps_hand_edits_and_adds_what_is_new(nocodb_project, capsys):
    folder, dsn, schema = nocodb_project
    spec = folder / "specs" / "helpdesk.yaml"
    edited = spec.read_text().replace("  labels:\n", "  # hand edit: labels rarely change\n  labels:\n").replace(
        "      country: {description: \"Country\"}", "      country: {description: \"ISO country\", max_length: 2}")
    spec.write_text(edited)
    _change_the_app(dsn, schema)
    args = ["init", "--project-dir", str(folder), "--from", "nocodb", "--source", "app", "--owner", "o@example.com",
            "--domain", "helpdesk"]
    assert cli.main([*args, "--check"]) == 1
    out = capsys.readouterr().out
    assert "+      vip: {description: \"VIP\"}" in out
    assert "review: field customers.company is no longer in the app; the spec keeps it until you remove it" in out
    assert spec.read_text() == edited
    assert cli.main(args) == 0
    text = spec.read_text()
    assert "# hand edit: labels rarely change" in text and "{description: \"ISO country\", max_length: 2}" in text
    assert text == edited.replace('      profile: {description: "Profile"}\n',
                                  '      profile: {description: "Profile"}\n      vip: {description: "VIP"}\n')
    capsys.readouterr()
    assert cli.main([*args, "--check"]) == 0
    assert "up to date with the app" in capsys.readouterr().out


def test_init_refuses_what_it_cannot_use(tmp_path, monkeypatch, capsys):
    folder = _project(tmp_path, monkeypatch, "host=127.0.0.1 dbname=x")
    base = ["init", "--project-dir", str(folder), "--from", "nocodb", "--owner", "o@example.com"]
    assert cli.main([*base, "--source", "app"]) == 2
    err = capsys.readouterr().err
    assert "source 'app' is not in" in err and "pass --dsn env:NAME to add it" in err
    secret = "postgresql://u:hunter2@db/app"
    assert cli.main([*base, "--source", "app", "--dsn", secret]) == 2
    err = capsys.readouterr().err
    assert "--dsn takes a secret reference" in err and "hunter2" not in err
    assert cli.main([*base, "--source", "other"]) == 2
    assert "source 'other' is sqlite: archival reads nocodb metadata from PostgreSQL" in capsys.readouterr().err
    assert "app:" not in (folder / "archival.yaml").read_text() and not list((folder / "specs").iterdir())
