"""The command's quick exit (archival/cli/exit.py): atexit handlers still run, the status is kept,
and a thread still working is waited for, as the interpreter would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest


def _run(body: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent("""
        import atexit, sys, threading, time
        from archival.cli.exit import end_process
    """) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("status", [0, 1, 2])
def test_the_status_and_atexit_handlers_survive_the_quick_exit(status):
    done = _run(f"""
        atexit.register(lambda: print("handler ran", flush=False))
        def command():
            print("command output", flush=False)  # buffered: the exit must flush it
            return {status}
        end_process(command)
        print("never reached")
    """)
    assert done.returncode == status
    assert done.stdout.splitlines() == ["command output", "handler ran"]


def test_a_thread_still_working_is_waited_for():
    done = _run("""
        def work():
            time.sleep(0.5)
            print("thread finished", flush=True)
        def command():
            threading.Thread(target=work).start()  # not a daemon: the interpreter waits for it
            return 3
        end_process(command)
    """)
    assert done.returncode == 3
    assert "thread finished" in done.stdout


def test_the_quick_exit_skips_the_interpreter_teardown():
    """A finalizer that only the teardown would run shows which path was taken."""
    done = _run("""
        class Noisy:
            def __del__(self):
                print("torn down", flush=True)
        kept = Noisy()
        end_process(lambda: 0)
    """)
    assert done.returncode == 0
    assert "torn down" not in done.stdout


def test_a_command_that_used_the_archives_request_pool_still_exits_quickly():
    """The pool's threads outlive the requests (archive/round_trips.py): idle, they must not pass for
    work the exit waits for, and a request still running is waited for."""
    done = _run("""
        from archival.archive import round_trips
        class Noisy:
            def __del__(self):
                print("torn down", flush=True)
        kept = Noisy()
        def late():
            time.sleep(0.3)
            print("request finished", flush=True)
        def command():
            round_trips.at_once(lambda n: n * 2, [1, 2, 3])
            round_trips.submit(late)
            return 4
        end_process(command)
    """)
    assert done.returncode == 4
    assert "request finished" in done.stdout
    assert "torn down" not in done.stdout


def test_a_closed_stdout_gives_the_interpreters_status():
    done = _run("""
        class ReaderGone:  # `archival ls | head -1`: the flush at exit finds the pipe closed
            def write(self, text):
                return len(text)
            def flush(self):
                raise BrokenPipeError(32, "Broken pipe")
        sys.stdout = ReaderGone()
        end_process(lambda: 0)
    """)
    assert done.returncode == 120


def test_a_whole_run_takes_the_quick_exit(demo_project, small_demo_db):
    """What the command leaves running when it returns decides the exit: a real run of the demo
    (plan, locks, units, commit, record) must leave no thread the interpreter would wait for."""
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    code = textwrap.dedent(f"""
        import sys
        import archival.cli.exit as exit_
        counted = exit_.others_working
        def others_working():
            found = counted()
            print("left running:", sorted(t.name for t in found), file=sys.stderr, flush=True)
            return found
        exit_.others_working = others_working
        sys.argv = ["archival", "run", "--no-prefect", "--no-progress", "--ignore-quiet-hours",
                    "--project-dir", {str(demo_project)!r}]
        from archival.cli import entry
        entry()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "left running: []" in done.stderr.splitlines()
