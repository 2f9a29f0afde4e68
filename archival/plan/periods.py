"""Calendar periods in a domain's time zone, as half-open UTC intervals [start, end).

Boundaries are local midnights converted to UTC, so a month in Europe/Berlin starts at 22:00 or
23:00 UTC depending on DST, and a day across a DST change is 23 or 25 hours long."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from archival.spec.model import Grain

UTC = UTC


@dataclass(frozen=True, order=True)
class Period:
    start: datetime  # aware, UTC, inclusive
    end: datetime  # aware, UTC, exclusive
    grain: Grain
    label: str

    def closed(self, as_of: datetime, lag: timedelta) -> bool:
        """A period is closed once its end plus the lag has passed: no row can still arrive in it."""
        return self.end + lag <= as_of


def _first_day(day: date, grain: Grain) -> date:
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.isoweekday() - 1)
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _next_first_day(first: date, grain: Grain) -> date:
    if grain == "day":
        return first + timedelta(days=1)
    if grain == "week":
        return first + timedelta(days=7)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    index = first.month - 1 + months
    return date(first.year + index // 12, index % 12 + 1, 1)


def label_of(first: date, grain: Grain) -> str:
    if grain == "day":
        return first.isoformat()
    if grain == "week":
        year, week, _ = first.isocalendar()
        return f"{year}-W{week:02d}"
    if grain == "month":
        return f"{first.year}-{first.month:02d}"
    if grain == "quarter":
        return f"{first.year}-Q{(first.month - 1) // 3 + 1}"
    return f"{first.year}"


def _local_midnight_utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _period_from_first_day(first: date, grain: Grain, zone: ZoneInfo) -> Period:
    nxt = _next_first_day(first, grain)
    return Period(_local_midnight_utc(first, zone), _local_midnight_utc(nxt, zone), grain, label_of(first, grain))


def period_containing(instant: datetime, grain: Grain, tz: str) -> Period:
    if instant.tzinfo is None:
        raise ValueError("period_containing needs an aware datetime")
    zone = ZoneInfo(tz)
    first = _first_day(instant.astimezone(zone).date(), grain)
    period = _period_from_first_day(first, grain, zone)
    # a local midnight that DST skipped can put the instant just outside; step to the right period
    if instant < period.start:
        return _period_from_first_day(_first_day(first - timedelta(days=1), grain), grain, zone)
    if instant >= period.end:
        return next_period(period, tz)
    return period


def next_period(period: Period, tz: str) -> Period:
    zone = ZoneInfo(tz)
    first = _first_day(period.end.astimezone(zone).date(), period.grain)
    return _period_from_first_day(first, period.grain, zone)


def periods_between(first_instant: datetime, until: datetime, grain: Grain, tz: str) -> Iterator[Period]:
    """Periods from the one containing `first_instant` while their start is before `until`."""
    period = period_containing(first_instant, grain, tz)
    while period.start < until:
        yield period
        period = next_period(period, tz)


_LABELS = {
    "day": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
    "week": re.compile(r"^(\d{4})-W(\d{2})$"),
    "month": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarter": re.compile(r"^(\d{4})-Q([1-4])$"),
    "year": re.compile(r"^(\d{4})$"),
}


def parse_label(label: str, grain: Grain, tz: str) -> Period:
    match = _LABELS[grain].match(label)
    if not match:
        raise ValueError(f"'{label}' is not a {grain} period label")
    nums = [int(g) for g in match.groups()]
    if grain == "day":
        first = date(*nums)
    elif grain == "week":
        first = date.fromisocalendar(nums[0], nums[1], 1)
    elif grain == "month":
        first = date(nums[0], nums[1], 1)
    elif grain == "quarter":
        first = date(nums[0], 3 * (nums[1] - 1) + 1, 1)
    else:
        first = date(nums[0], 1, 1)
    return _period_from_first_day(first, grain, ZoneInfo(tz))
