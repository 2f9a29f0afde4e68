from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archival.spec.values import (
    check_cron,
    dsn_has_password,
    parse_duration,
    parse_quiet_hours,
    parse_secret_ref,
)


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("15m", 900), ("1h", 3600), ("2d", 172800),
                                          ("1w", 604800), ("1y", 365 * 86400), ("0s", 0)])
def test_durations(text, seconds):
    assert parse_duration(text).seconds == seconds


@pytest.mark.parametrize("text", ["1 h", "1hour", "-1h", "1.5h", "h", "", "1M"])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from("smhdwy"))
def test_duration_roundtrip(n, unit):
    assert parse_duration(f"{n}{unit}").text == f"{n}{unit}"


def test_cron():
    assert check_cron("0 2 * * *")
    for bad in ["0 2 * *", "61 2 * * *", "0 2 * * * *", "every day"]:
        with pytest.raises(ValueError):
            check_cron(bad)


def test_quiet_hours_wrap_midnight():
    night = parse_quiet_hours("22:00-06:00")
    assert night.contains(time(23, 0)) and night.contains(time(5, 59)) and not night.contains(time(6, 0))
    day = parse_quiet_hours("07:00-20:00")
    assert day.contains(time(7, 0)) and not day.contains(time(20, 0))
    assert parse_quiet_hours("00:00-24:00").contains(time(23, 59, 59))


@pytest.mark.parametrize("dsn,has", [
    ("postgresql://app:pw@db/x", True), ("postgresql://app@db/x", False), ("host=db user=app password=pw", True),
    ("host=db user=app", False), ("Server=db;Uid=app;Pwd=pw", True), ("mysql://root@127.0.0.1:3306/db", False),
])
def test_literal_password_detection(dsn, has):
    assert dsn_has_password(dsn) is has


def test_secret_refs():
    assert parse_secret_ref("env:SALES_DB_DSN").name == "SALES_DB_DSN"
    assert parse_secret_ref("prefect-block:aws-credentials/archive").kind == "prefect-block"
    for bad in ["env:", "env:a b", "vault:x", "prefect-block:noslash"]:
        with pytest.raises(ValueError):
            parse_secret_ref(bad)
