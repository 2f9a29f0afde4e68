"""Shared test fixtures. Database fixtures create a uniquely named database per test and drop it
afterwards. Outside CI a missing server skips those tests with the reason; in CI (CI=true) it fails
them, so a broken service can never turn the suite green."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

# Prefect reads these at import: keep its state out of ~ and never phone home.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="archival-prefect-"))
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.setdefault("ARCHIVAL_PII_KEY", "test-pii-key")

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CASES = ROOT / "tests" / "cases"
FIXTURES = ROOT / "tests" / "fixtures"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

PG_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "password": ""}


@pytest.fixture(autouse=True)
def _prefect_events_client_ends_with_its_test():
    """Prefect's events worker keeps its websocket to the server open after a flow ran in this
    process, and the websocket's pings (every 20 s, and Prefect's checkpoints) draw their payload
    from the global `random`. A later Hypothesis test in the same xdist worker took that for its own
    strategy's use of `random` (a HypothesisDeprecationWarning in CI, an error once Hypothesis makes
    it one), so the worker is drained, and its websocket closed, with the test that started it."""
    yield
    end_prefect_events_client()


def end_prefect_events_client() -> None:
    """Drain Prefect's log and events workers (archival.run.server) when a test started one: asked of a
    process that never configured a server, Prefect would start its ephemeral one (12 s)."""
    worker = sys.modules.get("prefect.events.worker")
    if worker is not None and worker.EventsWorker._instances:  # noqa: SLF001 - where Prefect keeps them
        from archival.run.server import drain_prefect_workers

        drain_prefect_workers()


@pytest.fixture(autouse=True)
def _prefect_console_follows_capture():
    """Prefect's console log handler keeps the sys.stderr of the moment its logging was configured,
    which may be an earlier test's capsys stream (closed after that test): each test points it at its
    own, so a flow's log lines are captured instead of ending in "I/O operation on closed file"."""
    import logging

    handlers = sys.modules.get("prefect.logging.handlers")
    if handlers is None:
        return
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, handlers.PrefectConsoleHandler):
                handler.stream = handler.console.file = sys.stderr  # not setStream: it flushes the closed one


def unavailable(what: str, exc: Exception) -> None:
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if IN_CI:
        pytest.fail(f"{reason}; CI must provide it (.ci/run starts it)")
    pytest.skip(reason)


@pytest.fixture
def demo_project(tmp_path: Path) -> Path:
    """A copy of the repository's demo project (specs only; no database)."""
    shutil.copy(ROOT / "archival.yaml", tmp_path / "archival.yaml")
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


@contextmanager
def pg_database():
    """A fresh, empty PostgreSQL database, dropped afterwards; yields its libpq DSN."""
    psycopg = pytest.importorskip("psycopg")
    name = f"archival_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432", exc)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"host=127.0.0.1 port=5432 user=postgres dbname={name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def mysql_database():
    """A fresh MariaDB database, dropped afterwards; yields (database name, DSN for DuckDB)."""
    pymysql = pytest.importorskip("pymysql")
    name = f"archival_t_{uuid.uuid4().hex[:12]}"
    try:
        admin = pymysql.connect(**MYSQL, connect_timeout=5, autocommit=True)
    except pymysql.MySQLError as exc:
        unavailable("MariaDB on 127.0.0.1:3306", exc)
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        yield name, f"host=127.0.0.1 port=3306 user=root database={name}"
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        admin.close()


@pytest.fixture
def pg_dsn():
    """A fresh, empty PostgreSQL database; yields its libpq DSN."""
    with pg_database() as dsn:
        yield dsn


@pytest.fixture
def mysql_db():
    """A fresh MariaDB database; yields (database name, DSN for DuckDB)."""
    with mysql_database() as found:
        yield found


@contextmanager
def tmpfs(folder: Path, size: str, read_only: bool = False):
    """A small file system mounted at `folder` (root only: the tests run as root here and in CI)."""
    import subprocess

    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        reason = f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        pytest.fail(reason) if IN_CI else pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def write_project(folder: Path, sources: str, specs: dict[str, str], extra: str = "") -> Path:
    """A project folder with the given `sources:` block (YAML, indented 2) and domain specs."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "archival.yaml").write_text(
        f"project: test\nsources:\n{sources}\narchive:\n  default: local\n"
        f"  targets:\n    local: {{type: local, path: ./archive}}\n{extra}")
    (folder / "specs").mkdir(exist_ok=True)
    for name, text in specs.items():
        (folder / "specs" / f"{name}.yaml").write_text(text)
    return folder


@pytest.fixture
def nocodb_pg(pg_dsn):
    """The NocoDB helpdesk fixture (written by real NocoDB through its REST API) restored into a fresh
    PostgreSQL database. Yields (dsn, app schema)."""
    import subprocess

    dbname = pg_dsn.rsplit("dbname=", 1)[1]
    subprocess.run(["pg_restore", "--no-owner", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname,
                    str(FIXTURES / "nocodb_helpdesk.dump")], check=True, capture_output=True)
    yield pg_dsn, "pgkodt9w682deoh"


@pytest.fixture
def directus_pg(pg_dsn):
    """The Directus helpdesk fixture restored into a fresh PostgreSQL database."""
    import subprocess

    dbname = pg_dsn.rsplit("dbname=", 1)[1]
    subprocess.run(["pg_restore", "--no-owner", "-h", "127.0.0.1", "-U", "postgres", "-d", dbname,
                    str(FIXTURES / "directus_helpdesk.dump")], check=True, capture_output=True)
    yield pg_dsn


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server per test session (per xdist worker): starting one costs seconds.
    Its database is a throwaway PostgreSQL database, as production should use: on Prefect's default
    SQLite every global-concurrency slot often meets a lock (503) and costs a 2 s client retry, which
    would make each flow test pay seconds per unit (see docs/operations.md)."""
    import psycopg
    from prefect.context import _temporary_global_settings_context, get_settings_context
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_DATABASE_CONNECTION_URL, temporary_settings

    from archival.run.server import drain_prefect_workers

    name = f"archival_t_prefect_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        unavailable("PostgreSQL on 127.0.0.1:5432 (the test Prefect server's database)", exc)
    try:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
        with temporary_settings(updates={PREFECT_SERVER_DATABASE_CONNECTION_URL: url}):
            # the rest mirrors prefect_test_harness: register the server as the default one so nothing
            # spawns a second, and make its settings global so threads a test starts see them too
            server = SubprocessASGIServer()
            prior = SubprocessASGIServer._instances.get(None)
            SubprocessASGIServer._instances[None] = server
            server.start(timeout=120)
            try:
                with temporary_settings(updates={PREFECT_API_URL: server.api_url}), \
                        _temporary_global_settings_context(get_settings_context()):
                    yield server.api_url
                    drain_prefect_workers()  # while the server still answers
            finally:
                server.stop()
                SubprocessASGIServer._instances[None] = prior
                if prior is None:
                    SubprocessASGIServer._instances.pop(None)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 (and KMS) server on 127.0.0.1: a real HTTP endpoint, one per test session."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture(scope="session")
def small_demo_db(tmp_path_factory) -> Path:
    """The demo helpdesk at 1% scale (about 3,800 rows), generated once per session; copy before writing."""
    from archival.demo.helpdesk import generate

    path = tmp_path_factory.mktemp("small-demo") / "helpdesk.db"
    generate(path, scale=0.01)
    return path


SHOP_SPEC = """domain: shop
owner: o@example.com
source: app
tables:
  comments: {relation: ticket_comments, primary_key: [id], mode: window, cursor: created_at, period: month}
  tickets: {relation: tickets, primary_key: [id], mode: incremental, cursor: [updated_at, created_at]}
  customers: {relation: customers, primary_key: [id], mode: full}
"""


@pytest.fixture
def shop_project(tmp_path, small_demo_db) -> Path:
    """A copy of the small demo database as source `app`, three tables of domain `shop` (window,
    incremental, full)."""
    import shutil

    (tmp_path / "data").mkdir()
    shutil.copy(small_demo_db, tmp_path / "data" / "app.db")
    return write_project(tmp_path / "p", "  app: {type: sqlite, path: ../data/app.db}", {"shop": SHOP_SPEC})


def blobs_project(folder: Path, bucket: str, endpoint: str, rows: int, blob_bytes: int) -> Path:
    """A SQLite table `blobs` of `rows` rows of hex text (random: zstd halves it, no more), domain
    `shop`, with an S3 target `s3` at `endpoint` (moto, plain http) beside the local one."""
    import sqlite3
    from contextlib import closing

    folder.mkdir(parents=True)
    with closing(sqlite3.connect(folder / "app.db")) as con:
        con.execute("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body TEXT)")
        con.execute(f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) "
                    f"INSERT INTO blobs SELECT n, hex(randomblob({blob_bytes})) FROM g")
        con.commit()
    spec = ("domain: shop\nowner: o@example.com\nsource: app\ntables:\n"
            "  blobs: {relation: blobs, primary_key: [id], mode: full}\n")
    target = f"    s3: {{type: s3, bucket: {bucket}, endpoint_url: '{endpoint}', allow_http: true}}\n"
    return write_project(folder, "  app: {type: sqlite, path: app.db}", {"shop": spec}, extra=target)


@pytest.fixture
def golden(tmp_path, monkeypatch):
    """A copy of the archive release 0.1.0 wrote (tests/fixtures/golden/v0.1.0), with its PII key set."""
    return golden_copy("v0.1.0", tmp_path, monkeypatch)


@pytest.fixture
def golden_020(tmp_path, monkeypatch):
    """A copy of the archive release 0.2.0 wrote (the first with `sum-xxh3-text-v2` fingerprints)."""
    return golden_copy("v0.2.0", tmp_path, monkeypatch)


@pytest.fixture
def golden_030(tmp_path, monkeypatch):
    """A copy of the archive release 0.3.0 wrote (the first with `sum-xxh3-words-v3` fingerprints)."""
    return golden_copy("v0.3.0", tmp_path, monkeypatch)


def golden_copy(release: str, tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("ARCHIVAL_PII_KEY", "golden-fixture-key")
    folder = tmp_path / "golden"
    shutil.copytree(FIXTURES / "golden" / release, folder, ignore=shutil.ignore_patterns("make_golden.py"))
    return folder
