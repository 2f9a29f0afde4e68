"""The Prefect API a CLI run talks to: the one PREFECT_API_URL configures, else a private temporary
server this command starts and stops. Unlike Prefect's own ephemeral server it runs in its own
session (Ctrl-C in the terminal reaches the run, which stops cleanly and still needs the API, not the
server) and dies with the command whatever kills it (archival/run/server_child.py)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PRIVATE_URLS: set[str] = set()  # a private server is not shared with other runs (run/limits.py)


class ServerFailed(Exception):
    """The temporary Prefect server did not start (exit 1): the message says what to check."""


STARTUP_SECONDS = 90


def _private_server_class() -> type:
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    class PrivateServer(SubprocessASGIServer):
        def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
            # the command and environment of Prefect's own ephemeral server (Prefect 3), started
            # through server_child in a session of its own
            import prefect

            server_env = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
            return subprocess.Popen(
                [sys.executable, "-m", "archival.run.server_child", str(os.getpid()), "--app-dir",
                 str(prefect.__module_path__.parent), "--factory", "prefect.server.api.server:create_app",
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"],
                env={**os.environ, **server_env,
                     **get_current_settings().to_environment_variables(exclude_unset=True)},
                start_new_session=True)

    return PrivateServer


@contextmanager
def prefect_api() -> Iterator[str | None]:
    """Yields the private server's API URL, or None when a server is configured."""
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if get_current_settings().api.url:
        yield None
        return
    prior = SubprocessASGIServer._instances.pop(None, None)
    server = _private_server_class()()
    try:
        try:
            # Prefect waits 20 s by default; a fresh database's migrations on a busy 2-core host took longer
            server.start(timeout=max(STARTUP_SECONDS, get_current_settings().server.ephemeral.startup_timeout_seconds))
        except RuntimeError as exc:
            raise ServerFailed(f"the temporary Prefect server did not start ({str(exc)[:300]}); check that "
                               f"PREFECT_HOME ({get_current_settings().home}) and TMPDIR are writable and not "
                               "full, or set PREFECT_API_URL to a running server") from None
        PRIVATE_URLS.add(server.api_url)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            try:
                yield server.api_url
            finally:
                drain_prefect_workers()  # while the server still answers: later they would retry for a minute
    finally:
        server.stop()
        PRIVATE_URLS.discard(server.api_url)
        SubprocessASGIServer._instances.pop(None, None)
        if prior is not None:
            SubprocessASGIServer._instances[None] = prior


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
