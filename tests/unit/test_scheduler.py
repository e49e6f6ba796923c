"""The scheduler with a controlled clock: first tick, missed ticks after downtime,
restarts, pause/resume/remove, stale schedules, and DST days (on the memory store; the
store side is in the conformance suite, processes racing in tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conveyor import (
    InvalidJobError,
    InvalidScheduleError,
    JobStatus,
    Queue,
    ScheduleNotFoundError,
    UnknownJobError,
    create_queue,
)
from conveyor.clock import FrozenClock
from conveyor.runtime.scheduler import PRUNE_AFTER, STALE_AFTER, Scheduler
from conveyor.stores.memory import MemoryStore

BERLIN = ZoneInfo("Europe/Berlin")


def at(*args: int, zone: ZoneInfo | None = None) -> float:
    return datetime(*args, tzinfo=zone or UTC).timestamp()  # type: ignore[misc]


def make_queue(clock: FrozenClock, store: MemoryStore | None = None) -> Queue:
    queue = Queue(store or MemoryStore(clock=clock), name="q")
    queue.register("report", lambda job: None)
    return queue


def scheduler_of(queue: Queue) -> Scheduler:
    """A scheduler of the queue's schedules, stepped by hand instead of by its loop."""
    scheduler = queue.make_scheduler()
    assert scheduler is not None
    return scheduler


async def tick_times(queue: Queue) -> list[str]:
    jobs = await queue.get_jobs_by_status(JobStatus.PENDING, limit=1000)
    return [job.config.scheduled_at.astimezone(UTC).strftime("%m-%d %H:%M:%S") for job in jobs]  # type: ignore[union-attr]


async def run_until(scheduler: Scheduler, clock: FrozenClock, end: float, step: float) -> None:
    """Move the clock to ``end`` in steps, firing what is due at each."""
    await scheduler.register()
    while clock.now() < end:
        clock.advance(min(step, end - clock.now()))
        await scheduler.fire_due()


async def test_a_new_schedule_starts_at_its_next_tick_not_a_past_one() -> None:
    clock = FrozenClock(at(2026, 5, 1, 10, 30))
    queue = make_queue(clock).cron("report", "0 * * * *")
    scheduler = scheduler_of(queue)
    await scheduler.register()
    assert await scheduler.fire_due() == pytest.approx(1800)
    assert await tick_times(queue) == []
    await run_until(scheduler, clock, at(2026, 5, 1, 13, 0), 60)
    assert await tick_times(queue) == ["05-01 11:00:00", "05-01 12:00:00", "05-01 13:00:00"]
    (info,) = await queue.get_schedules()
    assert info.last_run == datetime(2026, 5, 1, 13, tzinfo=UTC)
    assert info.next_run == datetime(2026, 5, 1, 14, tzinfo=UTC)
    job = await queue.get_job(info.last_job_id or "")
    assert job is not None
    assert job.config.scheduled_at == info.last_run


@pytest.mark.parametrize(
    ("missed", "expected"),
    [
        ("latest", ["05-01 15:00:00"]),
        ("skip", []),
        (3, ["05-01 13:00:00", "05-01 14:00:00", "05-01 15:00:00"]),
        (10, ["05-01 12:00:00", "05-01 13:00:00", "05-01 14:00:00", "05-01 15:00:00"]),
    ],
)
async def test_after_downtime_the_missed_policy_decides(
    missed: str | int, expected: list[str]
) -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 30))
    store = MemoryStore(clock=clock)
    before = make_queue(clock, store).cron("report", "0 * * * *", missed=missed)
    await scheduler_of(before).register()
    clock.advance(4 * 3600)  # down from 11:30 to 15:30: ticks 12:00 to 15:00 missed
    after = make_queue(clock, store).cron("report", "0 * * * *", missed=missed)
    scheduler = scheduler_of(after)
    await scheduler.register()
    await scheduler.fire_due()
    await scheduler.fire_due()
    assert await tick_times(after) == expected
    # Nothing more until the next tick, which runs whatever the policy.
    await run_until(scheduler, clock, at(2026, 5, 1, 16, 0, 1), 30)
    assert (await tick_times(after))[len(expected) :] == ["05-01 16:00:00"]


async def test_skip_still_runs_a_tick_found_a_little_late() -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 59, 58))
    queue = make_queue(clock).cron("report", "0 * * * *", missed="skip")
    scheduler = scheduler_of(queue)
    await scheduler.register()
    clock.advance(5)  # 3 s late
    await scheduler.fire_due()
    assert await tick_times(queue) == ["05-01 12:00:00"]


async def test_a_restart_never_fires_a_tick_twice() -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 59, 59))
    store = MemoryStore(clock=clock)
    first = make_queue(clock, store).cron("report", "0 * * * *")
    await run_until(scheduler_of(first), clock, at(2026, 5, 1, 12, 0, 1), 1)
    for _ in range(3):  # restarted three times within the same hour
        again = make_queue(clock, store).cron("report", "0 * * * *")
        scheduler = scheduler_of(again)
        await scheduler.register()
        await scheduler.fire_due()
        clock.advance(60)
    assert await tick_times(first) == ["05-01 12:00:00"]


async def test_two_schedulers_on_one_store_fire_each_tick_once() -> None:
    clock = FrozenClock(at(2026, 5, 1, 12, 0, 0))
    store = MemoryStore(clock=clock)
    schedulers = [scheduler_of(make_queue(clock, store).cron("report", "* * * * * *"))
                  for _ in range(2)]  # fmt: skip
    for scheduler in schedulers:
        await scheduler.register()
    for _ in range(10):
        clock.advance(1)
        for scheduler in schedulers:
            await scheduler.fire_due()
    assert len(await tick_times(make_queue(clock, store))) == 10


async def test_paused_schedules_do_not_fire_and_resume_from_the_next_tick() -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 30))
    queue = make_queue(clock).cron("report", "0 * * * *")
    scheduler = scheduler_of(queue)
    await scheduler.register()
    await queue.pause_schedule("report")
    await scheduler.resync()
    await run_until(scheduler, clock, at(2026, 5, 1, 13, 30), 60)
    assert await tick_times(queue) == []
    assert (await queue.get_schedules())[0].paused
    await queue.resume_schedule("report")
    await scheduler.resync()
    await scheduler.fire_due()
    assert await tick_times(queue) == []  # 12:00 and 13:00 were missed while paused
    await run_until(scheduler, clock, at(2026, 5, 1, 14, 0), 60)
    assert await tick_times(queue) == ["05-01 14:00:00"]


async def test_a_removed_schedule_stops_firing_in_a_running_process() -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 30))
    queue = make_queue(clock).cron("report", "0 * * * *")
    scheduler = scheduler_of(queue)
    await scheduler.register()
    await queue.remove_schedule("report")
    await scheduler.resync()
    await run_until(scheduler, clock, at(2026, 5, 1, 14, 0), 300)  # registers again: not it
    assert await tick_times(queue) == []
    assert await queue.get_schedules() == []
    with pytest.raises(ScheduleNotFoundError, match="no schedule 'report'"):
        await queue.remove_schedule("report")
    with pytest.raises(ScheduleNotFoundError):
        await queue.pause_schedule("report")


async def test_schedules_gone_from_the_code_show_stale_then_are_deleted() -> None:
    clock = FrozenClock(at(2026, 5, 1, 11, 30))
    store = MemoryStore(clock=clock)
    old = make_queue(clock, store).cron("report", "0 * * * *", key="old")
    await scheduler_of(old).register()
    new = make_queue(clock, store).cron("report", "0 * * * *", key="new")
    clock.advance(STALE_AFTER + 1)
    await scheduler_of(new).register()
    listed = {info.key: info.stale for info in await new.get_schedules()}
    assert listed == {"new": False, "old": True}
    clock.advance(PRUNE_AFTER)
    await scheduler_of(new).register()
    assert [info.key for info in await new.get_schedules()] == ["new"]


async def test_a_daily_0230_in_berlin_runs_once_on_both_dst_days() -> None:
    clock = FrozenClock(at(2026, 3, 27, 12, zone=BERLIN))
    queue = make_queue(clock).cron("report", "30 2 * * *", timezone="Europe/Berlin")
    scheduler = scheduler_of(queue)
    await run_until(scheduler, clock, at(2026, 3, 31, 12, zone=BERLIN), 600)
    spring = await tick_times(queue)
    assert spring == ["03-28 01:30:00", "03-29 01:00:00", "03-30 00:30:00", "03-31 00:30:00"]
    clock.advance(at(2026, 10, 23, 12, zone=BERLIN) - clock.now())
    await scheduler.resync()
    await scheduler.fire_due()  # the missed 2026-10-23 02:30, once ("latest")
    await run_until(scheduler, clock, at(2026, 10, 27, 12, zone=BERLIN), 600)
    fall = (await tick_times(queue))[len(spring) + 1 :]
    # 02:30 CEST on the 24th and 25th (first occurrence), 02:30 CET after.
    assert fall == ["10-24 00:30:00", "10-25 00:30:00", "10-26 01:30:00", "10-27 01:30:00"]


def test_registration_checks_everything_at_once() -> None:
    queue = make_queue(FrozenClock())
    with pytest.raises(UnknownJobError, match="no handler registered for job name 'nope'"):
        queue.cron("nope", "@daily")
    with pytest.raises(InvalidScheduleError, match="unknown time zone 'Nowhere/City'"):
        queue.cron("report", "@daily", timezone="Nowhere/City")
    with pytest.raises(InvalidScheduleError, match="invalid cron expression"):
        queue.cron("report", "99 * * * *")
    with pytest.raises(InvalidScheduleError, match="at least 1 s"):
        queue.cron("report", timedelta(seconds=0))
    with pytest.raises(InvalidScheduleError, match="never matches"):
        queue.cron("report", "0 0 31 2 *")
    with pytest.raises(InvalidScheduleError, match="missed must be"):
        queue.cron("report", "@daily", missed="all")
    with pytest.raises(InvalidScheduleError, match="delay is set by each tick"):
        queue.cron("report", "@daily", delay=5)
    with pytest.raises(InvalidJobError, match="priority"):
        queue.cron("report", "@daily", priority="urgent")
    queue.cron("report", "@daily")
    with pytest.raises(InvalidScheduleError, match="already registered"):
        queue.cron("report", "@hourly")
    queue.cron("report", "@hourly", {"kind": "hourly"}, key="report-hourly")
    assert sorted(queue._schedules) == ["report", "report-hourly"]


async def test_schedules_fire_in_a_started_queue_and_stop_with_it() -> None:
    queue = create_queue(url="memory://", name="live")
    ran: list[datetime] = []
    queue.register("beat", lambda job: ran.append(job.config.scheduled_at))
    queue.cron("beat", timedelta(seconds=1))
    await queue.start()
    try:
        first = await queue.wait(await _next_job(queue), timeout=5)
        assert first.config.scheduled_at is not None
        assert first.config.scheduled_at.microsecond == 0
    finally:
        await queue.close()
    count = len(ran)
    assert count >= 1


async def _next_job(queue: Queue) -> str:
    import asyncio

    for _ in range(300):
        infos = await queue.get_schedules()
        if infos and infos[0].last_job_id:
            return infos[0].last_job_id
        await asyncio.sleep(0.01)
    raise AssertionError("the schedule did not fire within 3 s")
