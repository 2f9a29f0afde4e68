"""The command line: exit statuses, output formats, and that bad specs touch nothing."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archival import cli
from tests.conftest import CASES, ROOT

AS_OF = "2026-11-25T12:00:00Z"


@pytest.fixture
def demo(demo_project, small_demo_db):
    (demo_project / "data").mkdir()
    shutil.copy(small_demo_db, demo_project / "data" / "helpdesk.db")
    return demo_project


def run(capsys, *args):
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _golden(name: str, text: str):
    path = CASES / "plan" / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_validate_ok(capsys, demo):
    code, out, _ = run(capsys, "validate", "--project-dir", str(demo))
    assert code == 0 and "1 domain(s), 6 table(s)" in out


def test_validate_connect_ok(capsys, demo):
    code, out, err = run(capsys, "validate", "--connect", "--project-dir", str(demo))
    assert code == 0, err
    assert "and its sources" in out


def test_validate_connect_reports_missing_column(capsys, demo):
    spec = demo / "specs" / "helpdesk.yaml"
    spec.write_text(spec.read_text().replace("cursor: created_at", "cursor: posted_at"))
    code, _, err = run(capsys, "validate", "--connect", "--project-dir", str(demo))
    assert code == 2 and "specs/helpdesk.yaml:" in err and "has no cursor column 'posted_at'" in err


def test_validate_connect_unreachable_is_a_failure_not_a_spec_error(capsys, demo):
    (demo / "data" / "helpdesk.db").unlink()
    code, _, err = run(capsys, "validate", "--connect", "--project-dir", str(demo))
    assert code == 1 and "does not exist" in err


def test_three_mistakes_two_files_exit_2_and_no_database_touched(capsys, tmp_path, monkeypatch):
    shutil.copytree(CASES / "specs" / "base", tmp_path, dirs_exist_ok=True)
    (tmp_path / "archival.yaml").write_text((tmp_path / "archival.yaml").read_text() + "limits: {max_paralel: 2}\n")
    spec = tmp_path / "specs" / "sales.yaml"
    spec.write_text(spec.read_text().replace("period: month", "period: monthly").replace("mode: full", "mode: ful"))

    def no_database(*_a, **_k):
        raise AssertionError("a database was contacted although the spec is invalid")

    monkeypatch.setattr("archival.source.duck.connect", no_database)
    for command in (["validate", "--connect"], ["plan"], ["ls"]):
        code, out, err = run(capsys, *command, "--project-dir", str(tmp_path))
        assert code == 2 and out == ""
        assert err.count("hint:") == 3 and "3 errors in 2 file(s)" in err
        assert "archival.yaml:10:10: unknown key 'max_paralel'" in err
    assert not (tmp_path / "data").exists() and not (tmp_path / "archive").exists()


def test_plan_text_markdown_json_golden(capsys, demo):
    for fmt, name in (("text", "demo.txt"), ("markdown", "demo.md"), ("json", "demo.json")):
        code, out, err = run(capsys, "plan", "--project-dir", str(demo), "--as-of", AS_OF, "--format", fmt)
        assert code == 0, err
        _golden(name, out)
    data = json.loads((CASES / "plan" / "demo.json").read_text())
    ids = [u["id"] for u in data["units"]]
    assert len(ids) == len(set(ids)) and "helpdesk.ticket_comments/2026-10" in ids
    assert "helpdesk.ticket_comments/2026-11" not in ids  # open period


def test_plan_offline_says_what_it_could_not_know(capsys, demo):
    code, out, _ = run(capsys, "plan", "--offline", "--project-dir", str(demo), "--as-of", AS_OF)
    assert code == 0 and "first period unknown" in out and "not probed (--offline)" in out


def test_select(capsys, demo):
    code, out, _ = run(capsys, "ls", "--json", "--project-dir", str(demo), "-s", "tag:pii",
                       "-s", "table:helpdesk.agents")
    assert code == 0 and [r["table"] for r in json.loads(out)] == ["helpdesk.agents", "helpdesk.customers"]
    assert {r["source"] for r in json.loads(out)} == {"helpdesk"}  # the domain's source, by name
    code, _, err = run(capsys, "plan", "--project-dir", str(demo), "-s", "table:helpdesk.tickts")
    assert code == 2 and "did you mean 'table:helpdesk.tickets'" in err
    code, _, err = run(capsys, "ls", "--project-dir", str(demo), "-s", "domian:helpdesk")
    assert code == 2 and "bad selector" in err


def test_unknown_target(capsys, demo):
    code, _, err = run(capsys, "plan", "--project-dir", str(demo), "--target", "s3")
    assert code == 2 and "unknown target 's3'" in err


def test_schema_command_prints_committed_schema(capsys):
    code, out, _ = run(capsys, "schema", "--kind", "domain")
    assert code == 0 and out == (ROOT / "schemas" / "domain.schema.json").read_text()


def test_console_script_installed(demo):
    exe = Path(sys.executable).parent / "archival"  # the console script next to the test interpreter
    done = subprocess.run([str(exe), "validate", "--project-dir", str(demo)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_command_of_the_parser_resolves_to_its_function():
    parsed = set(cli.build_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001 - argparse keeps them there
    assert parsed == set(cli.COMMANDS)
    for name in cli.COMMANDS:
        assert callable(cli.command(name)), name


@pytest.mark.parametrize("name", [*cli.SPEC_ERRORS, *cli.USAGE_ERRORS, *cli.OPERATOR_ERRORS, *cli.SECRET_ERRORS])
def test_each_error_the_exit_status_names_is_an_exception_class(name):
    module, cls = name.split(":")
    assert issubclass(getattr(importlib.import_module(module), cls), Exception)


def test_an_error_is_matched_only_when_its_class_was_loaded(monkeypatch):
    from archival.spec.select import SelectorError

    assert cli.raised(SelectorError("x"), cli.USAGE_ERRORS)
    assert not cli.raised(ValueError("x"), cli.USAGE_ERRORS)
    monkeypatch.delitem(sys.modules, "archival.spec.select")  # never imported: nothing of it was raised
    assert not cli.raised(ValueError("x"), ("archival.spec.select:SelectorError",))


# What the data commands need and a spec check does not: each costs tens to hundreds of ms to import.
HEAVY = ("polars", "duckdb", "pyarrow", "pandera", "openlineage", "prefect", "boto3", "botocore", "cryptography")


def test_validate_and_help_import_none_of_the_data_libraries(demo):
    code = ("import sys\nfrom archival import cli\n"
            f"assert cli.main(['validate', '--project-dir', {str(demo)!r}]) == 0\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(demo):
    """`archival ls | head -1`: the output's reader went away; not an error to report (status 120, as
    CPython gives when it cannot flush at exit)."""
    exe = Path(sys.executable).parent / "archival"
    proc = subprocess.Popen([str(exe), "ls", "--project-dir", str(demo)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command has written anything: its first write fails
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 120
    assert err == ""


def test_a_broken_pipe_elsewhere_is_an_error(capsys, monkeypatch, demo):
    def lost_connection(args):
        raise BrokenPipeError(32, "Broken pipe")  # a source's or an endpoint's connection, not our output

    monkeypatch.setattr(cli, "command", lambda name: lost_connection)
    code, _, err = run(capsys, "ls", "--project-dir", str(demo))
    assert code == 1 and "archival ls: BrokenPipeError" in err


def test_a_run_with_nothing_to_export_never_imports_the_export_stack(demo):
    """Inside the demo's quiet hours every unit waits for the next run: planning and the run record
    need neither polars, Pandera nor OpenLineage (they load with the first unit that runs)."""
    code = ("import sys\nfrom archival import cli\nimport archival.run.items as items\n"
            "items.in_quiet_hours = lambda domain, now: '07:00-20:00'  # the wall clock's hour, pinned\n"
            f"code = cli.main(['run', '--project-dir', {str(demo)!r}, '--as-of', '2026-11-25T12:00:00Z', "
            "'--no-prefect', '--no-progress'])\n"
            "print(code, sorted(m for m in ('polars', 'pandera', 'polars_hash', 'openlineage') if m in sys.modules))")
    env = {**os.environ, "ARCHIVAL_PII_KEY": "test-key"}
    env.pop("PREFECT_API_URL", None)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "deferred" in done.stderr + done.stdout
    assert done.stdout.strip().splitlines()[-1] == "0 []"


def test_a_broken_pipe_elsewhere_is_an_error_while_our_output_is_read(demo):
    """The same with a real pipe as standard output whose reader is still there: the kernel reports no
    error on it, so the broken pipe is another connection's and is reported (exit 1)."""
    code = ("from archival import cli\n"
            "def lost(args):\n    raise BrokenPipeError(32, 'Broken pipe')\n"
            "cli.command = lambda name: lost\n"
            f"raise SystemExit(cli.main(['ls', '--project-dir', {str(demo)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 1
    assert "archival ls: BrokenPipeError" in done.stderr
