"""The Prefect API a CLI run talks to: the one PREFECT_API_URL configures, else a private temporary
server this command starts and stops. Unlike Prefect's own ephemeral server it runs in its own
session (Ctrl-C in the terminal reaches the run, which stops cleanly and still needs the API, not the
server) and dies with the command whatever kills it (archival/run/server_child.py)."""

from __future__ import annotations

import importlib.util
import inspect
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PRIVATE_URLS: set[str] = set()  # a private server is not shared with other runs (run/limits.py)


class ServerFailed(Exception):
    """The temporary Prefect server did not start (exit 1): the message says what to check."""


STARTUP_SECONDS = 90


class PrivateServer:
    """uvicorn serving Prefect's API in a child process (archival/run/server_child.py), launched
    without importing Prefect's server code here: that import alone costs this process seconds, and
    the child pays it anyway. `archival run` launches it first thing, so the server starts while the
    command loads its own modules and specs (the same command and environment Prefect 3 gives its
    own ephemeral server)."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._launch()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> None:
        spec = importlib.util.find_spec("prefect")
        assert spec is not None and spec.origin is not None
        self.port = _free_port()
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "archival.run.server_child", str(os.getpid()), "--app-dir",
             str(Path(spec.origin).parent.parent), "--factory", "prefect.server.api.server:create_app",
             "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
            env=env, start_new_session=True)

    def wait(self, timeout: float) -> None:
        """Until the API answers its health check; ServerFailed when it does not in `timeout`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            code = self.process.poll()
            if code == 3:  # uvicorn could not bind: another process took the port meanwhile
                self._launch()
                continue
            if code is not None:
                raise ServerFailed(f"the temporary Prefect server exited with code {code} while starting; check "
                                   "that PREFECT_HOME and TMPDIR are writable and not full, or set PREFECT_API_URL "
                                   "to a running server")
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:  # noqa: S310 - loopback
                    if answer.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise ServerFailed(f"the temporary Prefect server did not answer within {timeout:.0f} s; check that "
                           "PREFECT_HOME and TMPDIR are writable and not full, or set PREFECT_API_URL to a running "
                           "server")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_url_configured() -> bool:
    """Whether Prefect's settings name an API (a server this run reports to), asking Prefect only when
    one of the files it reads could: importing its settings costs a second a direct run need not pay."""
    if os.environ.get("PREFECT_API_URL"):
        return True
    settings = sys.modules.get("prefect.settings")
    if settings is None and not _may_name_api():
        return False
    from prefect.settings import get_current_settings

    return bool(get_current_settings().api.url)


def _may_name_api() -> bool:
    """A settings source of Prefect 3 that mentions an API: the active profile's file, `.env`,
    `prefect.toml` or `pyproject.toml` (`[tool.prefect]`) in the working folder."""
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    sources = {Path(os.environ.get("PREFECT_PROFILES_PATH") or home / "profiles.toml"): "PREFECT_API_URL",
               Path(".env"): "PREFECT_API_URL", Path("prefect.toml"): "api", Path("pyproject.toml"): "tool.prefect"}
    for path, mark in sources.items():
        try:
            if mark in path.read_text(errors="replace"):
                return True
        except OSError:  # absent or unreadable: Prefect reads nothing there either
            continue
    return False


def launch_early() -> PrivateServer | None:
    """A private server started before anything else when no API URL is configured: as far as can be
    told without importing Prefect (the environment; a profile that names a URL is seen later, and
    then this server is stopped unused)."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    settings = sys.modules.get("prefect.settings")
    if settings is not None and settings.get_current_settings().api.url:  # Prefect is loaded already (tests)
        return None
    return PrivateServer()


@contextmanager
def prefect_api(early: PrivateServer | None = None) -> Iterator[str | None]:
    """Yields the private server's API URL, or None when a server is configured. `early`: a private
    server launched already (launch_early)."""
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        if early is not None:
            early.stop()
        yield None
        return
    server = early or PrivateServer()
    try:
        # Prefect waits 20 s by default; a fresh database's migrations on a busy 2-core host took longer
        server.wait(max(STARTUP_SECONDS, get_current_settings().server.ephemeral.startup_timeout_seconds))
        PRIVATE_URLS.add(server.api_url)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                drain_prefect_workers()  # while the server still answers: later they would retry for a minute
    finally:
        server.stop()
        PRIVATE_URLS.discard(server.api_url)


def drain_prefect_workers() -> None:
    """Send Prefect's buffered logs and events now."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.utilities.asyncutils import run_coro_as_sync

    async def drain() -> None:
        # inside a coroutine these return awaitables; await them on this loop
        try:
            result = APILogWorker.instance().drain()
            if inspect.isawaitable(result):
                await result
        except RuntimeError:  # never started
            pass
        result = EventsWorker.drain_all()
        if inspect.isawaitable(result):
            await result

    run_coro_as_sync(drain())
