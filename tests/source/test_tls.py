"""`tls:` per source against a PostgreSQL and a MariaDB the tests start on their own ports (initdb /
mariadb-install-db, a CA and a server certificate made with openssl): verify-full with the CA connects
over TLS and exports; a server without TLS, or a certificate from another CA, is refused with a clear
error naming the source."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archival import cli
from archival.source import duck
from archival.spec.model import Source
from tests.conftest import IN_CI, write_project
from tests.run.helpers import run_units

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
MARIADBD = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
needs_pg = pytest.mark.skipif(not BIN and not IN_CI, reason="PostgreSQL server binaries are not installed")
needs_mariadb = pytest.mark.skipif(not Path(MARIADBD).exists() and not IN_CI, reason="mariadbd is not installed")


def _run(*args: str, cwd: Path | None = None) -> None:
    done = subprocess.run(list(args), capture_output=True, cwd=cwd, timeout=60)
    assert done.returncode == 0, f"{args[0]} failed: {done.stderr.decode()[-500:]}"


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
         "-days", "2", "-subj", f"/CN={name}", cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


def _certificates(folder: Path) -> None:
    """ca.pem, and server.crt/server.key it signed for localhost and 127.0.0.1."""
    _ca(folder, "ca")
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder)
    (folder / "server.key").chmod(0o600)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def tls_server():
    """A PostgreSQL cluster of its own; yields (folder, port, start(ssl: bool))."""
    folder = Path(tempfile.mkdtemp(prefix="archival-tls-", dir="/tmp"))
    folder.chmod(0o755)
    _certificates(folder)
    shutil.chown(folder, "postgres")
    for name in ("server.key", "server.crt"):
        shutil.chown(folder / name, "postgres")
    bin_dir = BIN[-1]
    _run("runuser", "-u", "postgres", "--", f"{bin_dir}/initdb", "-D", str(folder / "data"), "-A", "trust",
         "-U", "postgres")
    port = _free_port()

    def start(ssl: bool) -> None:
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c ssl={'on' if ssl else 'off'} "
                   f"-c ssl_cert_file={folder}/server.crt -c ssl_key_file={folder}/server.key")
        _run("runuser", "-u", "postgres", "--", f"{bin_dir}/pg_ctl", "-D", str(folder / "data"), "-o", options,
             "-w", "-l", str(folder / "log"), "restart" if (folder / "data" / "postmaster.pid").exists() else "start")

    try:
        yield folder, port, start
    finally:
        subprocess.run(["runuser", "-u", "postgres", "--", f"{bin_dir}/pg_ctl", "-D", str(folder / "data"),
                        "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)


# What the server says about the session's encryption: PostgreSQL's pg_stat_ssl.ssl, MariaDB's cipher
SESSION_TLS = {"postgres": ("SELECT * FROM postgres_query('src', 'SELECT ssl::text FROM pg_stat_ssl "
                            "WHERE pid = pg_backend_pid()')", 0),
               "mysql": ("SELECT * FROM mysql_query('src', 'SHOW SESSION STATUS LIKE ''Ssl_cipher''')", 1)}


def _attach(source: Source, root: Path) -> str:
    """ATTACH the source as archival does; the server's word on the session's TLS."""
    sql, column = SESSION_TLS[source.type]
    with duck.POOL.connection((source.type,)) as con:
        duck.attach(con, source, root)
        try:
            return str(con.execute(sql).fetchone()[column])
        finally:
            con.execute("DETACH src")


def _export_over_tls(tmp_path: Path, monkeypatch, source: Source, relation: str) -> None:
    """The 300-row events table exported and reconciled through `source` (verify-full, the test's CA)."""
    monkeypatch.setenv("TLS_DSN", source.dsn)
    project = write_project(tmp_path / "project", f"  {source.name}: {{type: {source.type}, dsn: env:TLS_DSN, "
                            f"tls: verify-full, tls_ca: {tmp_path / 'ca.pem'}}}",
                            {"app": f"domain: app\nowner: o@example.com\nsource: {source.name}\ntables:\n  events: "
                                    f"{{relation: {relation}, primary_key: [id], mode: window, cursor: at, "
                                    "period: month}\n"})
    _, results = run_units(project, datetime(2026, 3, 1, tzinfo=UTC))
    assert sum(r.rows for r in results) == 300
    assert cli.main(["reconcile", "--project-dir", str(project)]) == 0


@needs_pg
def test_verify_full_over_tls_and_refusals(tls_server, tmp_path, monkeypatch):
    folder, port, start = tls_server
    shutil.copy(folder / "ca.pem", tmp_path / "ca.pem")
    dsn = f"host=localhost port={port} user=postgres dbname=postgres"
    strict = Source("tlsdb", "postgres", dsn=dsn, tls="verify-full", tls_ca="ca.pem")

    start(ssl=False)  # no TLS at all: verify-full refuses, naming the source
    with pytest.raises(duck.SourceError, match="source 'tlsdb' .*cannot be attached: .*SSL"):
        _attach(strict, tmp_path)

    start(ssl=True)
    assert _attach(strict, tmp_path) == "true"
    other, _ = _ca(tmp_path, "other-ca")  # a certificate from another CA: refused
    with pytest.raises(duck.SourceError, match="certificate verify failed"):
        _attach(Source("tlsdb", "postgres", dsn=dsn, tls="verify-full", tls_ca=other.name), tmp_path)

    subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c",
                    "CREATE TABLE events AS SELECT g AS id, timestamptz '2026-01-01' + g * interval '1 hour' AS at "
                    "FROM generate_series(1, 300) g; ALTER TABLE events ADD PRIMARY KEY (id)"], check=True,
                   capture_output=True, env={**os.environ, "PGSSLMODE": "require"})
    _export_over_tls(tmp_path, monkeypatch, strict, "public.events")


@pytest.fixture
def mariadb_tls_server():
    """A MariaDB server of its own (mariadb-install-db; root without a password on 127.0.0.1); yields
    (folder, port, start(ssl: bool))."""
    folder = Path(tempfile.mkdtemp(prefix="archival-mytls-", dir="/tmp"))
    _certificates(folder)
    _run("mariadb-install-db", "--no-defaults", f"--datadir={folder / 'data'}", "--user=root",
         "--auth-root-authentication-method=normal", "--skip-test-db")
    port, running = _free_port(), []

    def stop() -> None:
        while running:
            server = running.pop()
            server.terminate()
            server.wait(timeout=60)

    def start(ssl: bool) -> None:
        stop()
        tls = [f"--ssl-ca={folder}/ca.pem", f"--ssl-cert={folder}/server.crt", f"--ssl-key={folder}/server.key"] \
            if ssl else ["--skip-ssl"]
        with open(folder / "log", "ab") as log:
            running.append(subprocess.Popen([MARIADBD, "--no-defaults", f"--datadir={folder / 'data'}",
                                             f"--port={port}", "--bind-address=127.0.0.1", f"--socket={folder}/sock",
                                             "--user=root", f"--pid-file={folder}/pid", "--skip-name-resolve", *tls],
                                            stdout=subprocess.DEVNULL, stderr=log))
        for _ in range(300):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(f"mariadbd did not start: {(folder / 'log').read_text()[-500:]}")
        _run("mariadb", "--no-defaults", f"--socket={folder}/sock", "-uroot", "-e",
             "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1'; "
             "CREATE DATABASE IF NOT EXISTS app")

    try:
        yield folder, port, start
    finally:
        stop()
        shutil.rmtree(folder, ignore_errors=True)


@needs_mariadb
def test_mariadb_verify_full_over_tls_and_refusals(mariadb_tls_server, tmp_path, monkeypatch):
    folder, port, start = mariadb_tls_server
    shutil.copy(folder / "ca.pem", tmp_path / "ca.pem")
    dsn = f"host=127.0.0.1 port={port} user=root database=app"
    strict = Source("mytls", "mysql", dsn=dsn, tls="verify-full", tls_ca="ca.pem")

    start(ssl=False)  # no TLS at all: verify-full refuses, naming the source
    with pytest.raises(duck.SourceError, match="source 'mytls' .*cannot be attached"):
        _attach(strict, tmp_path)

    start(ssl=True)
    assert _attach(strict, tmp_path) not in ("", "None")  # a cipher: the session is encrypted
    other, _ = _ca(tmp_path, "other-ca")  # a certificate from another CA: refused
    with pytest.raises(duck.SourceError, match="source 'mytls' .*cannot be attached"):
        _attach(Source("mytls", "mysql", dsn=dsn, tls="verify-full", tls_ca=other.name), tmp_path)

    _run("mariadb", "--no-defaults", f"--socket={folder}/sock", "-uroot", "app", "-e",
         "CREATE TABLE events (id INT PRIMARY KEY, at DATETIME NOT NULL); INSERT INTO events WITH RECURSIVE "
         "g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 300) "
         "SELECT n, TIMESTAMP '2026-01-01 00:00:00' + INTERVAL n HOUR FROM g")
    _export_over_tls(tmp_path, monkeypatch, strict, "app.events")
