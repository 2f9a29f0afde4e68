"""DuckDB connections with the scanner extensions loaded from their wheels (no downloads, no
autoload) and sources ATTACHed READ_ONLY."""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import re
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import duckdb

from archival.source.secrets import Secret, SecretError, resolve, scrub
from archival.spec.model import Source
from archival.sql import quote_ident, sql_literal

EXTENSIONS = {"sqlite": "sqlite", "postgres": "postgres", "mysql": "mysql"}


class SourceError(Exception):
    """A source cannot be reached or read. Messages are scrubbed of secrets."""


def extension_path(name: str) -> Path:
    spec = importlib.util.find_spec(f"duckdb_extension_{name}")
    if spec is None or not spec.submodule_search_locations:
        raise SourceError(f"the wheel duckdb-extension-{name} is not installed (pip install -e . installs it)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions" / f"v{duckdb.__version__}"
    path = folder / f"{name}.duckdb_extension"
    if not path.exists():
        raise SourceError(f"DuckDB extension {name} for v{duckdb.__version__} not found at {path}")
    return path


def local_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for archival's own work on Arrow batches and archive files. Every DuckDB
    archival opens comes from here or `connect`: DuckDB draws a progress bar on stdout for any query
    over two seconds, piped or not, and it would land in logs and in `verify`'s output."""
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")  # a session setting: DuckDB refuses it in `config`
    return con


def connect(extensions: tuple[str, ...] = ("sqlite", "postgres", "mysql"),
            database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database, config={"autoinstall_known_extensions": False,
                                           "autoload_known_extensions": False})
    con.execute("SET enable_progress_bar = false")  # no progress bars in logs and piped output
    for name in extensions:
        con.execute(f"INSTALL '{extension_path(name)}'")
        con.execute(f"LOAD {name}")
    con.execute("SET TimeZone = 'UTC'")  # bounds and instants are UTC everywhere
    return con


def spill_root() -> Path:
    """Where DuckDB spills sorts and joins beyond its memory limit; TMPDIR moves it (a big local disk,
    not a RAM-backed /tmp)."""
    return Path(tempfile.gettempdir()) / "archival-spill"


class InstancePool:
    """DuckDB instances with a source's scanner extension loaded, reused within one process. LOAD
    checks the extension's signature (a SHA-256 over a 35-42 MB file: 80-120 ms here), which a run of
    many small units paid for every unit, its plan probe and its shared snapshot; a taken instance is
    one holder's alone, so ATTACH aliases and settings never clash between units on parallel threads.

    Each instance spills to a folder of its own under spill_root() (DuckDB cannot switch its temp
    directory once used, and two instances must not share one), removed when the instance closes.
    It goes back to the pool only after a clean exit and a successful reset (transaction rolled back,
    sources DETACHed, settings reset); otherwise it is closed. Instances never cross a fork."""

    def __init__(self, keep: int = 4):
        self.keep = keep
        self._idle: list[tuple[tuple[str, ...], duckdb.DuckDBPyConnection]] = []
        self._folders: dict[int, Path] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    @contextlib.contextmanager
    def connection(self, extensions: tuple[str, ...]) -> Iterator[duckdb.DuckDBPyConnection]:
        key = tuple(sorted(extensions))
        con = self._take(key)
        if con is None:
            con = connect(extensions)
            folder = spill_root() / f"{os.getpid()}-{secrets.token_hex(4)}"
            con.execute(f"SET temp_directory = {sql_literal(str(folder))}")
            with self._lock:
                self._folders[id(con)] = folder
        with self._lock:
            folder = self._folders.get(id(con))
        if folder is not None:  # DuckDB makes its temp folder, not the parents (a tmp cleaner may take them)
            try:
                folder.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                self._close(con)
                raise SourceError(f"cannot make DuckDB's spill folder {folder.parent} ({exc.strerror or exc}); "
                                  "set TMPDIR to a writable local folder") from None
        clean = False
        try:
            yield con
            clean = True
        finally:
            if clean and _reset(con):
                self._give(key, con)
            else:
                self._close(con)

    def _take(self, key: tuple[str, ...]) -> duckdb.DuckDBPyConnection | None:
        with self._lock:
            if os.getpid() != self._pid:  # a forked child: the parent's instances are not ours to use
                self._idle, self._folders, self._pid = [], {}, os.getpid()
            for i, (k, con) in enumerate(self._idle):
                if k == key:
                    del self._idle[i]
                    return con
        return None

    def _give(self, key: tuple[str, ...], con: duckdb.DuckDBPyConnection) -> None:
        with self._lock:
            if os.getpid() != self._pid:
                return
            self._idle.append((key, con))
            evicted = self._idle[:-self.keep] if len(self._idle) > self.keep else []
            self._idle = self._idle[len(evicted):]
        for _, old in evicted:
            self._close(old)

    def _close(self, con: duckdb.DuckDBPyConnection) -> None:
        with contextlib.suppress(duckdb.Error):
            con.close()
        with self._lock:
            folder = self._folders.pop(id(con), None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for _, con in idle:
            self._close(con)


def _reset(con: duckdb.DuckDBPyConnection) -> bool:
    """Back to a fresh instance's state, but for the loaded extensions; False if that failed."""
    try:
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("ROLLBACK")
        for (name,) in con.execute("SELECT database_name FROM duckdb_databases() "
                                   "WHERE NOT internal AND database_name <> 'memory'").fetchall():
            con.execute(f"DETACH {quote_ident(name)}")
        for setting in ("memory_limit", "threads", "preserve_insertion_order"):
            con.execute(f"RESET {setting}")
        # tables or views a holder left (none of ours makes any): not worth cleaning, close it instead
        left = con.execute("SELECT (SELECT count(*) FROM duckdb_tables() WHERE NOT internal) + "
                           "(SELECT count(*) FROM duckdb_views() WHERE NOT internal)").fetchone()[0]
        return left == 0
    except duckdb.Error:
        return False


POOL = InstancePool()
atexit.register(POOL.clear)  # spill folders go with the process


def mysql_dsn(dsn: str) -> str:
    """DuckDB's mysql scanner takes `key=value` pairs; accept mysql:// URIs too (query parameters
    become pairs). Packet compression is off unless the DSN asks for it: the scanner turns it on by
    default, and on a LAN it halves the rate at which rows arrive (1M rows: 3.4 s -> 1.7 s here)."""
    if "://" in dsn:
        url = urlsplit(dsn)
        pairs = {"host": url.hostname, "port": url.port, "user": unquote(url.username or ""),
                 "password": unquote(url.password or ""), "database": url.path.lstrip("/"),
                 **dict(parse_qsl(url.query))}
        dsn = " ".join(f"{k}={v}" for k, v in pairs.items() if v)
    if not re.search(r"(^|\s)compress\s*=", dsn):
        dsn += " compress=0"
    return dsn


def resolve_dsn(source: Source) -> Secret:
    if source.dsn is None:
        raise SourceError(f"source '{source.name}' has no dsn")
    if isinstance(source.dsn, str):
        return Secret(source.dsn)
    try:
        return resolve(source.dsn, f"source '{source.name}'")
    except SecretError as exc:
        raise SourceError(str(exc)) from None


LOOPBACK = ("localhost", "127.0.0.1", "::1", "")
MYSQL_SSL_MODES = {"disable": "DISABLED", "prefer": "PREFERRED", "require": "REQUIRED", "verify-ca": "VERIFY_CA",
                   "verify-full": "VERIFY_IDENTITY"}


def dsn_host(dsn: str) -> str:
    if "://" in dsn:
        return urlsplit(dsn).hostname or ""
    found = re.search(r"(?:^|\s)host\s*=\s*'?([^'\s]+)", dsn)
    return found.group(1) if found else ""


def with_tls(source: Source, dsn: str, root: Path) -> str:
    """The DSN with the source's `tls` setting: libpq's sslmode/sslrootcert, the MySQL connector's
    ssl_mode/ssl_ca. Without `tls:` a DSN that sets its own mode keeps it; otherwise a host that is
    not loopback gets `require` (a Unix socket path counts as local)."""
    key = "sslmode" if source.type == "postgres" else "ssl_mode"
    if source.tls is None and re.search(rf"(^|[\s?&]){key}\s*=", dsn):
        return dsn
    host = dsn_host(dsn)
    mode = source.tls or ("prefer" if host in LOOPBACK or host.startswith("/") else "require")
    params = {key: mode if source.type == "postgres" else MYSQL_SSL_MODES[mode]}
    if source.tls_ca:
        params["sslrootcert" if source.type == "postgres" else "ssl_ca"] = str((root / source.tls_ca).resolve())
    if "://" in dsn:
        return dsn + ("&" if urlsplit(dsn).query else "?") + "&".join(f"{k}={v}" for k, v in params.items())
    return dsn + "".join(f" {k}={v}" for k, v in params.items())


def attach(con: duckdb.DuckDBPyConnection, source: Source, root: Path, alias: str = "src",
           read_only: bool = True) -> None:
    """ATTACH a source READ_ONLY under `alias` (a restore target read-write); errors never carry the
    DSN or its password."""
    if source.type == "sqlite":
        path = (root / source.path).resolve() if source.path else None
        if path is None or (read_only and not path.exists()):
            raise SourceError(f"source '{source.name}': sqlite database {source.path} does not exist")
        target, secret = str(path), None
        # one SQLite connection per DuckDB transaction: with parallel scans each thread reads through a
        # connection of its own, so a count, the rows of one query, or two related tables could each
        # see another snapshot while the app writes (WAL mode)
        con.execute("SET sqlite_disable_multithreaded_scans = true")
    else:
        secret = resolve_dsn(source)
        target = with_tls(source, mysql_dsn(secret.value) if source.type == "mysql" else secret.value, root)
    if source.type == "mysql":
        # the type rules of source/types.py: tinyint(1) is a number (-128..127), not a boolean, and
        # TIMESTAMP columns arrive as UTC wall time whatever the server's time zone
        con.execute("SET mysql_tinyint1_as_boolean = false")
        con.execute("SET mysql_session_time_zone = '+00:00'")
    try:
        # ATTACH takes no bound parameters: quote the target as a literal (DuckDB doubles quotes)
        mode = ", READ_ONLY" if read_only else ""
        con.execute(f"ATTACH {sql_literal(target)} AS {alias} (TYPE {source.type}{mode})")
    except duckdb.Error as exc:
        message = scrub(str(exc), secret, target)
        raise SourceError(f"source '{source.name}' ({source.type}) cannot be attached: {message}") from None
