from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archival.plan.periods import next_period, parse_label, period_containing, periods_between

ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Auckland", "America/Santiago"]
GRAINS = ["day", "week", "month", "quarter", "year"]


@pytest.mark.parametrize("grain,label", [("day", "2026-10-25"), ("week", "2026-W43"), ("month", "2026-10"),
                                         ("quarter", "2026-Q4"), ("year", "2026")])
def test_labels(grain, label):
    assert period_containing(datetime(2026, 10, 25, 12, tzinfo=UTC), grain, "UTC").label == label


def test_dst_night_in_berlin_is_25_hours():
    day = parse_label("2026-10-25", "day", "Europe/Berlin")
    assert day.end - day.start == timedelta(hours=25)
    assert day.start == datetime(2026, 10, 24, 22, tzinfo=UTC)
    spring = parse_label("2026-03-29", "day", "Europe/Berlin")
    assert spring.end - spring.start == timedelta(hours=23)


def test_period_in_zone_east_and_west_of_utc():
    instant = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
    assert period_containing(instant, "month", "Europe/Berlin").label == "2026-11"  # 00:30 local, Nov 1st
    assert period_containing(instant, "month", "America/New_York").label == "2026-10"
    assert period_containing(instant, "month", "UTC").label == "2026-10"


def test_iso_week_53_and_year_boundary():
    assert period_containing(datetime(2021, 1, 3, tzinfo=UTC), "week", "UTC").label == "2020-W53"
    assert parse_label("2020-W53", "week", "UTC").start == datetime(2020, 12, 28, tzinfo=UTC)


def test_periods_between_stops_before_until():
    months = list(periods_between(datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC), "month", "UTC"))
    assert [p.label for p in months] == ["2026-01", "2026-02", "2026-03"]


instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(instants, st.sampled_from(GRAINS), st.sampled_from(ZONES))
def test_every_instant_is_in_exactly_its_period(instant, grain, zone):
    period = period_containing(instant, grain, zone)
    assert period.start <= instant < period.end  # half-open
    following = next_period(period, zone)
    assert following.start == period.end  # periods tile time: no gap, no overlap
    assert parse_label(period.label, grain, zone) == period  # labels round-trip
    assert period_containing(period.end, grain, zone) == following  # an edge belongs to the later period only
