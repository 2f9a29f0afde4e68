"""`tls:` per source against a PostgreSQL the test starts on its own port (initdb, a CA and a server
certificate made with openssl): verify-full with the CA connects over TLS and exports; a server without
TLS, or a certificate from another CA, is refused with a clear error naming the source."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from archival import cli
from archival.source import duck
from archival.spec.model import Source
from tests.conftest import IN_CI, write_project
from tests.run.helpers import run_units

BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(not BIN and not IN_CI, reason="PostgreSQL server binaries are not installed")


def _run(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(list(args), check=True, capture_output=True, cwd=cwd, timeout=60)


def _ca(folder: Path, name: str) -> tuple[Path, Path]:
    _run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.pem",
         "-days", "2", "-subj", f"/CN={name}", cwd=folder)
    return folder / f"{name}.pem", folder / f"{name}.key"


@pytest.fixture
def tls_server():
    """A PostgreSQL cluster of its own; yields (folder, port, start(ssl: bool))."""
    folder = Path(tempfile.mkdtemp(prefix="archival-tls-", dir="/tmp"))
    folder.chmod(0o755)
    ca, _ = _ca(folder, "ca")
    _run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost", cwd=folder)
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _run("openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
         "-out", "server.crt", "-days", "2", "-extfile", "san.ext", cwd=folder)
    (folder / "server.key").chmod(0o600)
    shutil.chown(folder, "postgres")
    for name in ("server.key", "server.crt"):
        shutil.chown(folder / name, "postgres")
    bin_dir = BIN[-1]
    _run("runuser", "-u", "postgres", "--", f"{bin_dir}/initdb", "-D", str(folder / "data"), "-A", "trust",
         "-U", "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

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


def _attach(source: Source, root: Path) -> str:
    with duck.POOL.connection(("postgres",)) as con:
        duck.attach(con, source, root)
        try:
            return str(con.execute("SELECT * FROM postgres_query('src', 'SELECT ssl::text FROM pg_stat_ssl "
                                   "WHERE pid = pg_backend_pid()')").fetchone()[0])
        finally:
            con.execute("DETACH src")


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
    monkeypatch.setenv("TLS_DSN", dsn)
    project = write_project(tmp_path / "project", "  tlsdb: {type: postgres, dsn: env:TLS_DSN, tls: verify-full, "
                            f"tls_ca: {tmp_path / 'ca.pem'}}}",
                            {"app": "domain: app\nowner: o@example.com\nsource: tlsdb\ntables:\n  events: {relation: "
                                    "public.events, primary_key: [id], mode: window, cursor: at, period: month}\n"})
    _, results = run_units(project, datetime(2026, 3, 1, tzinfo=UTC))
    assert sum(r.rows for r in results) == 300
    assert cli.main(["reconcile", "--project-dir", str(project)]) == 0
