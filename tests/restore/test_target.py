"""`--to` of a restore: a secret reference, a DSN without a password, or a SQLite path; a DSN with a
password is refused without being repeated, and an engine that cannot be told is asked for."""

from __future__ import annotations

import pytest

from archival import cli
from archival.restore.target import TargetUsage, parse_target


def test_targets_are_told_apart(monkeypatch, tmp_path):
    monkeypatch.setenv("TO_PG", "postgresql://u:pw@db/app")
    assert parse_target("env:TO_PG").engine == "postgres"
    assert parse_target("env:TO_PG").label == "postgres database (env:TO_PG)"
    assert parse_target("host=db database=app user=u").engine == "mysql"
    assert parse_target(str(tmp_path / "x.db")).engine == "sqlite"
    with pytest.raises(TargetUsage, match="cannot tell whether the DSN is PostgreSQL or MySQL"):
        parse_target("host=db user=u")


def test_a_password_on_the_command_line_is_refused_and_not_repeated(demo_project, capsys):
    secret = "postgresql://archivist:hunter2@db/app"
    assert cli.main(["restore", "--project-dir", str(demo_project), "-s", "table:helpdesk.tickets",
                     "--to", secret]) == 2
    err = capsys.readouterr().err
    assert "--to holds a password" in err and "hunter2" not in err
