"""When schedules tick: cron fields and aliases, seconds, intervals, time zones and DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conveyor import InvalidScheduleError
from conveyor.runtime.triggers import make_trigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def ticks(schedule: str | timedelta, zone: str, start: datetime, count: int) -> list[datetime]:
    trigger = make_trigger(schedule, zone)
    found, tick = [], ms(start)
    for _ in range(count):
        tick = trigger.next_after(tick)
        found.append(datetime.fromtimestamp(tick / 1000, ZoneInfo(zone)))
    return found


def test_five_fields_aliases_and_seconds_first() -> None:
    start = datetime(2026, 1, 1, 10, 0, 0, tzinfo=UTC)
    assert [t.strftime("%H:%M") for t in ticks("*/20 * * * *", "UTC", start, 3)] == [
        "10:20", "10:40", "11:00",
    ]  # fmt: skip
    assert ticks("@daily", "UTC", start, 1)[0] == datetime(2026, 1, 2, tzinfo=UTC)
    assert ticks("@hourly", "UTC", start, 1)[0] == datetime(2026, 1, 1, 11, tzinfo=UTC)
    assert ticks("@weekly", "UTC", start, 1)[0] == datetime(2026, 1, 4, tzinfo=UTC)  # Sunday
    assert ticks("@monthly", "UTC", start, 1)[0] == datetime(2026, 2, 1, tzinfo=UTC)
    assert ticks("@yearly", "UTC", start, 1)[0] == datetime(2027, 1, 1, tzinfo=UTC)
    every_15_s = ticks("*/15 * * * * *", "UTC", start, 3)
    assert [t.strftime("%M:%S") for t in every_15_s] == ["00:15", "00:30", "00:45"]


def test_a_tick_is_never_its_own_next_and_the_latest_includes_now() -> None:
    trigger = make_trigger("0 3 * * *", "UTC")
    three = ms(datetime(2026, 5, 1, 3, tzinfo=UTC))
    assert trigger.next_after(three) == three + 86_400_000
    assert trigger.next_after(three - 1) == three
    assert trigger.latest_at_or_before(three) == three
    assert trigger.latest_at_or_before(three - 1) == three - 86_400_000


def test_expressions_read_the_wall_clock_of_their_zone() -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC)
    (tick,) = ticks("0 9 * * *", "America/New_York", start, 1)
    assert tick.astimezone(UTC) == datetime(2026, 6, 1, 13, tzinfo=UTC)  # EDT is UTC-4


def test_intervals_tick_on_multiples_of_themselves_since_the_epoch() -> None:
    start = datetime(2026, 1, 1, 10, 7, 13, tzinfo=UTC)
    found = ticks(timedelta(minutes=5), "Europe/Berlin", start, 3)  # zone does not matter
    assert [t.astimezone(UTC).strftime("%H:%M:%S") for t in found] == [
        "10:10:00", "10:15:00", "10:20:00",
    ]  # fmt: skip
    trigger = make_trigger(timedelta(seconds=7), "UTC")
    assert trigger.latest_at_or_before(70_001) == 70_000


def test_a_daily_0230_runs_once_on_spring_forward_day_when_the_clock_jumps() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 does not exist.
    found = ticks("30 2 * * *", "Europe/Berlin", datetime(2026, 3, 28, 12, tzinfo=BERLIN), 3)
    assert [t.isoformat() for t in found] == [
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]


def test_a_daily_0230_runs_once_on_fall_back_day_at_its_first_occurrence() -> None:
    # Europe/Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    found = ticks("30 2 * * *", "Europe/Berlin", datetime(2026, 10, 24, 12, tzinfo=BERLIN), 3)
    assert [t.isoformat() for t in found] == [
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
        "2026-10-27T02:30:00+01:00",
    ]


def test_ticks_in_a_skipped_hour_collapse_into_one_and_a_repeated_hour_runs_once() -> None:
    spring = ticks("*/30 * * * *", "Europe/Berlin", datetime(2026, 3, 29, 1, tzinfo=BERLIN), 4)
    assert [t.strftime("%H:%M%z") for t in spring] == [
        "01:30+0100", "03:00+0200", "03:30+0200", "04:00+0200",
    ]  # fmt: skip
    fall = ticks("0 * * * *", "Europe/Berlin", datetime(2026, 10, 25, 0, 30, tzinfo=BERLIN), 4)
    assert [t.astimezone(UTC).strftime("%H:%M") for t in fall] == [
        "23:00", "00:00", "02:00", "03:00",  # local 01:00, 02:00 (first), 03:00, 04:00
    ]  # fmt: skip


def test_the_latest_tick_before_a_moment_in_the_repeated_hour() -> None:
    trigger = make_trigger("30 2 * * *", "Europe/Berlin")
    second_0240 = datetime(2026, 10, 25, 2, 40, tzinfo=BERLIN, fold=1)
    latest = trigger.latest_at_or_before(ms(second_0240))
    assert latest == ms(datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=0))


def test_new_york_transitions_too() -> None:
    # 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    spring = ticks("30 2 * * *", "America/New_York", datetime(2026, 3, 7, 12, tzinfo=NEW_YORK), 2)
    assert [t.isoformat() for t in spring] == [
        "2026-03-08T03:00:00-04:00",
        "2026-03-09T02:30:00-04:00",
    ]
    fall = ticks("30 1 * * *", "America/New_York", datetime(2026, 10, 31, 12, tzinfo=NEW_YORK), 2)
    assert [t.isoformat() for t in fall] == [
        "2026-11-01T01:30:00-04:00",
        "2026-11-02T01:30:00-05:00",
    ]


@pytest.mark.parametrize(
    ("schedule", "zone", "match"),
    [
        ("61 * * * *", "UTC", "invalid cron expression '61 \\* \\* \\* \\*'"),
        ("* * *", "UTC", "has 3 field"),
        ("* * * * * * *", "UTC", "has 7 field"),
        ("@reboot", "UTC", "has 1 field"),
        ("not cron at all", "UTC", "invalid cron expression|field"),
        ("0 3 * * *", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
        ("0 3 * * *", "", "IANA zone name"),
        (timedelta(0), "UTC", "at least 1 s, got 0 s"),
        (timedelta(seconds=-5), "UTC", "at least 1 s, got -5 s"),
        (3600, "UTC", "cron expression \\(str\\) or a timedelta"),
    ],
)
def test_bad_schedules_are_clear_errors(schedule: object, zone: str, match: str) -> None:
    with pytest.raises(InvalidScheduleError, match=match):
        make_trigger(schedule, zone)


def test_an_expression_that_never_matches_is_an_error() -> None:
    trigger = make_trigger("0 0 30 2 *", "UTC")
    with pytest.raises(InvalidScheduleError, match="never matches"):
        trigger.next_after(ms(datetime(2026, 1, 1, tzinfo=UTC)))
