"""conveyor.testing as a user's tests use it: the app's queue in memory, on a clock the
test moves; inline mode; assert_enqueued; a month of cron ticks in well under a second."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from conveyor import Fixed, Job, JobPriority, JobStatus, create_queue
from conveyor.testing import ANY, QueueTester, queue_fixture


def make_app_queue(tmp_path_url: str) -> tuple[object, list[object]]:
    queue = create_queue(url=tmp_path_url, name="app")
    ran: list[object] = []

    @queue.handler("send-email")
    def send_email(job: Job) -> str:
        ran.append(job.payload)
        return f"sent to {job.payload['to']}"

    @queue.handler("signup")
    async def signup(job: Job) -> None:
        await queue.enqueue("send-email", {"to": job.payload}, priority=JobPriority.HIGH)

    @queue.handler("flaky", max_retries=2, retry_delay=Fixed(60))
    def flaky(job: Job) -> None:
        ran.append(("flaky", job.attempts))
        if job.attempts < 3:
            raise RuntimeError("not yet")

    return queue, ran


@pytest.fixture
def app(tmp_path):  # type: ignore[no-untyped-def]
    # A real file: the tester must keep every job away from it.
    return make_app_queue(f"sqlite:///{tmp_path / 'app.db'}")


def test_a_sync_test_drains_what_a_view_enqueued(app, tmp_path) -> None:  # type: ignore[no-untyped-def]
    queue, ran = app
    with QueueTester(queue) as jobs:
        queue.sync.enqueue("signup", "a@example.com")  # what a Flask view would do
        jobs.sync.assert_enqueued("signup", "a@example.com")
        with pytest.raises(AssertionError, match=re.escape("waiting: signup('a@example.com')")):
            jobs.sync.assert_enqueued("send-email")
        finished = jobs.sync.drain()
        assert [(job.name, job.status) for job in finished] == [
            ("signup", JobStatus.COMPLETED),
            ("send-email", JobStatus.COMPLETED),
        ]
        assert finished[1].result == "sent to a@example.com"
        assert jobs.sync.jobs() == []
    assert ran == [{"to": "a@example.com"}]
    assert not (tmp_path / "app.db").exists()  # nothing reached the real store


async def test_inline_mode_runs_each_job_as_it_is_enqueued(app) -> None:  # type: ignore[no-untyped-def]
    queue, ran = app
    async with QueueTester(queue, inline=True) as jobs:
        job_id = await queue.enqueue("signup", "b@example.com")
        assert ran == [{"to": "b@example.com"}]
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.status is JobStatus.COMPLETED
        assert await jobs.jobs() == []


async def test_retries_follow_the_controlled_clock(app) -> None:  # type: ignore[no-untyped-def]
    queue, ran = app
    async with QueueTester(queue) as jobs:
        job_id = await queue.enqueue("flaky")
        assert await jobs.drain() == []  # failed once; the retry waits 60 s
        await jobs.assert_enqueued("flaky", ANY)
        assert await jobs.advance(59) == []
        assert ran == [("flaky", 1)]
        finished = await jobs.advance(timedelta(seconds=70))
        assert [job.id for job in finished] == [job_id]
        assert finished[0].status is JobStatus.COMPLETED
        assert ran == [("flaky", 1), ("flaky", 2), ("flaky", 3)]


async def test_a_month_of_cron_ticks_in_well_under_a_second() -> None:
    queue = create_queue(url="memory://", name="reports")
    ticks: list[datetime] = []
    queue.register("nightly", lambda job: ticks.append(job.config.scheduled_at))
    queue.cron("nightly", "30 2 * * *", timezone="Europe/Berlin")
    start = datetime(2026, 10, 1, tzinfo=UTC)
    began = time.monotonic()
    async with QueueTester(queue, now=start) as jobs:
        finished = await jobs.advance(timedelta(days=31))
    assert time.monotonic() - began < 5
    assert len(finished) == len(ticks) == 31
    local = [tick.astimezone(ZoneInfo("Europe/Berlin")) for tick in ticks]
    assert all((t.hour, t.minute) == (2, 30) for t in local)
    assert len({t.date() for t in local}) == 31  # once a day, the fall-back day too


def test_assert_enqueued_checks_config_fields(app) -> None:  # type: ignore[no-untyped-def]
    queue, _ = app
    with QueueTester(queue) as jobs:
        queue.sync.enqueue("send-email", {"to": "c"}, priority=JobPriority.HIGH)
        assert jobs.sync.assert_enqueued("send-email", {"to": "c"}, priority=JobPriority.HIGH)
        with pytest.raises(AssertionError):
            jobs.sync.assert_enqueued("send-email", {"to": "c"}, priority=JobPriority.LOW)


_queue_for_fixture, _ = make_app_queue("memory://")
jobs_fixture = queue_fixture(_queue_for_fixture)


def test_the_fixture_yields_a_tester(jobs_fixture: QueueTester) -> None:
    _queue_for_fixture.sync.enqueue("send-email", {"to": "d"})
    assert [job.name for job in jobs_fixture.sync.drain()] == ["send-email"]
