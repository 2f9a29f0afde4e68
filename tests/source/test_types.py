"""docs/types.md, row by row: on each engine a column of the row's source type holding its sample
value is exported through the real pipeline and must arrive with the documented Arrow type and the
value unchanged. Refused types fail with the way out, at `validate --connect` and in a run."""

from __future__ import annotations

import gzip
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pyarrow.parquet as pq
import pymysql
import pytest

from archival.archive.store import LocalStore
from archival.extract.snapshot import ExtractError
from archival.source.probe import probe_tables
from archival.source.types import TYPE_ROWS, TypeRow
from archival.spec.load import load_project
from archival.verify.check import verify_archive
from tests.conftest import MYSQL, mysql_database, pg_database, write_project
from tests.run.helpers import run_units

AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
SOURCES = {"postgres": "  db: {type: postgres, dsn: env:TYPES_DSN}",
           "mysql": "  db: {type: mysql, dsn: env:TYPES_DSN}",
           "sqlite": "  db: {type: sqlite, path: data/types.db}"}


def _spec(relation: str = "types_sample", columns: str = "", fmt: str = "parquet") -> str:
    contract = f"    columns:\n{columns}" if columns else ""
    return (f"domain: t\nowner: o@example.com\nsource: db\ntables:\n  sample:\n    relation: {relation}\n"
            f"    primary_key: [id]\n    mode: full\n    format: {fmt}\n" + contract)


def _rows(engine: str, refused: bool = False) -> list[TypeRow]:
    return [r for r in TYPE_ROWS if r.engine == engine and (r.arrow == "-") == refused]


def _create(engine: str, dsn: str | None, folder: Path, relation: str, columns: list[tuple[str, str, str]]) -> None:
    """CREATE TABLE relation (id, name ddl ...) and one row of the given values, with the engine's driver."""
    ddl = ", ".join(f"{name} {kind}" for name, kind, _ in columns)
    values = ", ".join(value for _, _, value in columns)
    statements = [f"CREATE TABLE {relation} (id int PRIMARY KEY, {ddl})",
                  f"INSERT INTO {relation} VALUES (1, {values})"]
    if engine == "postgres":
        with psycopg.connect(dsn, autocommit=True) as con:
            for sql in statements:
                con.execute(sql)
    elif engine == "mysql":
        con = pymysql.connect(**MYSQL, database=dsn.rsplit("database=", 1)[1], autocommit=True)
        with con.cursor() as cur:
            for sql in statements:
                cur.execute(sql)
        con.close()
    else:
        (folder / "data").mkdir(exist_ok=True)
        with sqlite3.connect(folder / "data" / "types.db") as con:
            for sql in statements:
                con.execute(sql)


class Engine:
    """A throwaway database of one engine and a project folder that reads it."""

    def __init__(self, engine: str, dsn: str | None, folder: Path, monkeypatch):
        self.engine, self.dsn, self.folder = engine, dsn, folder
        if dsn:
            monkeypatch.setenv("TYPES_DSN", dsn)

    def project(self, spec: str, name: str) -> Path:
        folder = write_project(self.folder / name, SOURCES[self.engine], {"t": spec})
        if self.engine == "sqlite":
            (folder / "data").mkdir(exist_ok=True)
            (folder / "data" / "types.db").symlink_to(self.folder / "data" / "types.db")
        return folder


@pytest.fixture(scope="module")
def engine(request, tmp_path_factory):
    """Parametrized indirectly with the engine's name."""
    folder = tmp_path_factory.mktemp(f"types-{request.param}")
    mp = pytest.MonkeyPatch()
    try:
        if request.param == "postgres":
            with pg_database() as dsn:
                yield _sampled(Engine("postgres", dsn, folder, mp))
        elif request.param == "mysql":
            with mysql_database() as (_, dsn):
                yield _sampled(Engine("mysql", dsn, folder, mp))
        else:
            yield _sampled(Engine("sqlite", None, folder, mp))
    finally:
        mp.undo()


def _sampled(engine: Engine) -> Engine:
    """One table with a column per documented row, exported once; the archived schema and row kept."""
    rows = _rows(engine.engine)
    _create(engine.engine, engine.dsn, engine.folder, "types_sample",
            [(f"c{i}", r.ddl, r.value) for i, r in enumerate(rows)])
    folder = engine.project(_spec(), "sample")
    _, results = run_units(folder, AS_OF)
    assert [r.outcome for r in results] == ["written"], results
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    table = pq.read_table(folder / "archive" / manifest["files"][0]["path"])
    types = {c["name"]: c["type"] for c in manifest["schema"]}  # the archive's Arrow types, as recorded
    engine.archived = {f.name: (types[f.name], table.column(f.name)[0].as_py()) for f in table.schema}
    engine.manifest = manifest
    engine.rows = rows
    engine.sample = folder
    return engine


DOCUMENTED = [(e, i) for e in SOURCES for i in range(len(_rows(e)))]


@pytest.mark.parametrize(("engine", "index"), DOCUMENTED, indirect=["engine"],
                         ids=[f"{e}-{_rows(e)[i].ddl}" for e, i in DOCUMENTED])
def test_each_documented_type_arrives_as_documented(engine, index):
    row = engine.rows[index]
    arrow_type, value = engine.archived[f"c{index}"]
    assert (arrow_type, str(value)) == (row.arrow, row.shows), f"{engine.engine} {row.source}"


@pytest.mark.parametrize("engine", list(SOURCES), indirect=True)
def test_each_column_records_its_source_type_and_rule(engine):
    recorded = {c["name"]: c for c in engine.manifest["source_schema"]}
    assert set(recorded) == {"id"} | {f"c{i}" for i in range(len(engine.rows))}
    assert all(c["source_type"] for c in recorded.values())
    if engine.engine == "postgres":
        numeric = next(i for i, r in enumerate(engine.rows) if r.ddl == "numeric")
        assert recorded[f"c{numeric}"]["rule"] == "decimal" and recorded[f"c{numeric}"]["source_type"] == "numeric"


@pytest.mark.parametrize("engine", list(SOURCES), indirect=True)
def test_every_documented_type_reads_back_to_its_fingerprint(engine):
    """verify --deep recomputes the fingerprint from the files: the row text of each type must read back
    as it was written. A PostgreSQL array is a list, which has no v3 words (v1); without it, v3."""
    nested = any(r.arrow.startswith("list") for r in engine.rows)
    assert engine.manifest["fingerprint"]["algorithm"] == ("sum-md5-json-v1" if nested else "sum-xxh3-words-v3")
    folders = [engine.sample]
    if nested:
        _create(engine.engine, engine.dsn, engine.folder, "flat_sample",
                [(f"c{i}", r.ddl, r.value) for i, r in enumerate(engine.rows) if not r.arrow.startswith("list")])
        flat = engine.project(_spec("flat_sample"), "flat")
        _, results = run_units(flat, AS_OF)
        manifest = json.loads((flat / "archive" / results[0].manifest).read_bytes())
        assert manifest["fingerprint"]["algorithm"] == "sum-xxh3-words-v3"
        folders.append(flat)
    for folder in folders:
        report = verify_archive(LocalStore(folder / "archive"), deep=True)
        assert report.ok and report.rows_checked == 1, [str(f) for f in report.findings]


@pytest.mark.parametrize("engine", [e for e in SOURCES if _rows(e, refused=True)], indirect=True)
def test_refused_types_fail_with_the_way_out(engine):
    refused = _rows(engine.engine, refused=True)
    for i, row in enumerate(refused):
        relation = f"refused_{i}"
        _create(engine.engine, engine.dsn, engine.folder, relation, [("v", row.ddl, row.value)])
        folder = engine.project(_spec(relation), f"refused-{i}")
        project = load_project(folder)
        problem = probe_tables(project, list(project.domains[0].tables))["t.sample"].problem
        assert problem and "column 'v'" in problem and ("float64" in problem or "view" in problem), problem
        with pytest.raises(ExtractError, match="column 'v'"):
            run_units(folder, AS_OF, check_plan=False)


@pytest.mark.parametrize("engine", ["mysql"], indirect=True)
def test_mysql_wide_decimal_archives_doubles_when_declared_float64(engine):
    _create("mysql", engine.dsn, engine.folder, "wide", [("v", "decimal(65,30)", "2.5")])
    folder = engine.project(_spec("wide", "      v: {type: float64}\n"), "wide")
    _, results = run_units(folder, AS_OF)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert {"name": "v", "type": "double", "nullable": True} in manifest["schema"]
    assert next(c for c in manifest["source_schema"] if c["name"] == "v")["rule"] == "float_declared"


@pytest.mark.parametrize("engine", ["postgres"], indirect=True)
def test_postgres_arrays_become_json_text_in_a_csv_archive(engine):
    _create("postgres", engine.dsn, engine.folder, "tagged", [("tags", "text[]", "'{a,\"b c\"}'")])
    folder = engine.project(_spec("tagged", fmt="csv"), "csv")
    _, results = run_units(folder, AS_OF)
    manifest = json.loads((folder / "archive" / results[0].manifest).read_bytes())
    assert {"name": "tags", "type": "string", "nullable": True} in manifest["schema"]
    text = gzip.decompress((folder / "archive" / manifest["files"][0]["path"]).read_bytes()).decode()
    assert '"[""a"",""b c""]"' in text  # JSON text, quoted as a CSV field
