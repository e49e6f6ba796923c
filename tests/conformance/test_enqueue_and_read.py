"""Enqueue and read back: every Job field, ids, listing, stats, clearing, batches."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from conftest import QueueFactory
from conveyor import (
    InvalidJobError,
    JobConfig,
    JobPriority,
    JobStatus,
    QueueStats,
    SerializationError,
    UnknownJobError,
)
from conveyor.stores import Outcome
from testkit import status_of, unique_name

SLACK = timedelta(milliseconds=5)


async def test_a_new_job_round_trips_every_field(make_queue: QueueFactory) -> None:
    queue = make_queue()
    when = datetime.now(UTC).replace(microsecond=250_000) + timedelta(hours=1)
    payload = {"text": "héllo ✓ 🚀", "items": [1, 2.5, None, True, "x"], "deep": {"a": {"b": []}}}
    before = datetime.now(UTC)
    job_id = await queue.enqueue(
        "work", payload, max_retries=5, retry_delay=2.5, timeout=12,
        priority=JobPriority.HIGH, scheduled_at=when,
    )  # fmt: skip
    after = datetime.now(UTC)

    job = await queue.get_job(job_id)
    assert job is not None
    assert isinstance(job_id, str)
    assert job.id == job_id
    assert job.name == "work"
    assert job.queue == queue.name
    assert job.payload == payload
    assert job.status is JobStatus.SCHEDULED
    assert job.config == JobConfig(
        max_retries=5, retry_delay=2.5, timeout=12.0, priority=JobPriority.HIGH,
        scheduled_at=when, backoff=None,
    )  # fmt: skip
    assert type(job.config.priority) is JobPriority
    assert job.attempts == 0
    assert job.created_at is not None
    assert job.created_at.tzinfo is not None
    assert job.created_at.utcoffset() == timedelta(0)
    assert before - SLACK <= job.created_at <= after + SLACK
    assert (job.started_at, job.completed_at) == (None, None)
    assert (job.error, job.traceback, job.result) == (None, None, None)
    assert (job.progress_percent, job.progress_message) == (None, None)


async def test_a_finished_job_round_trips_its_result_and_times(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    result = {"sent": True, "ids": [1, "two", 3.5], "note": "naïve ✓"}

    @queue.handler("send")
    async def send(job):
        return result

    await queue.start()
    job_id = await queue.enqueue("send")
    job = await queue.wait(job_id, timeout=5)

    assert job.status is JobStatus.COMPLETED
    assert job.payload is None
    assert job.result == result
    assert job.attempts == 1
    assert (job.error, job.traceback) == (None, None)
    assert job.config == JobConfig()  # the documented defaults: 3, 1.0 s, 30 s, NORMAL
    assert job.created_at is not None
    assert job.started_at is not None
    assert job.completed_at is not None
    assert job.created_at - SLACK <= job.started_at <= job.completed_at + SLACK
    stored = await queue.get_job(job_id)
    assert stored is not None
    assert (stored.status, stored.result, stored.completed_at) == (
        job.status, job.result, job.completed_at,
    )  # fmt: skip


async def test_handler_defaults_apply_and_are_overridden_per_job(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()

    @queue.handler("work", max_retries=7, priority=JobPriority.LOW, timeout=5, retry_delay=0.5)
    async def work(job):
        return None

    default_id = await queue.enqueue("work")
    custom_id = await queue.enqueue(
        "work", max_retries=0, priority=JobPriority.CRITICAL, timeout=math.inf
    )
    default = await queue.get_job(default_id)
    custom = await queue.get_job(custom_id)
    assert default is not None
    assert custom is not None
    assert default.config == JobConfig(
        max_retries=7, retry_delay=0.5, timeout=5.0, priority=JobPriority.LOW
    )
    assert custom.config == JobConfig(
        max_retries=0, retry_delay=0.5, timeout=None, priority=JobPriority.CRITICAL
    )
    # enqueue_many's (name, payload) items take the same defaults, each its own payload.
    many = [
        await queue.get_job(job_id)
        for job_id in await queue.enqueue_many([("work", 1), ("work", 2)])
    ]
    assert [(job.payload, job.config) for job in many if job is not None] == [
        (1, default.config),
        (2, default.config),
    ]


async def test_scheduled_at_accepts_epoch_seconds(make_queue: QueueFactory) -> None:
    queue = make_queue()
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    job_id = await queue.enqueue("work", scheduled_at=when.timestamp())
    job = await queue.get_job(job_id)
    assert job is not None
    assert job.config.scheduled_at == when
    assert job.status is JobStatus.SCHEDULED


async def test_get_job_of_an_unknown_id_is_none(make_queue: QueueFactory) -> None:
    queue = make_queue()
    assert await queue.get_job("01ZZZZZZZZZZZZZZZZZZZZZZZZ") is None
    assert await queue.get_job("no-such-job") is None


async def test_ids_are_unique_and_sort_by_creation(make_queue: QueueFactory) -> None:
    queue = make_queue()
    ids = [await queue.enqueue("work", {"i": i}) for i in range(30)]
    ids += await queue.enqueue_many([("work", {"i": i}) for i in range(30, 60)])
    ids += [await queue.enqueue("work", {"i": i}) for i in range(60, 70)]

    assert len(set(ids)) == len(ids)
    assert sorted(ids) == ids
    jobs = [await queue.get_job(job_id) for job_id in ids]
    assert [job.payload["i"] for job in jobs if job] == list(range(70))
    created = [job.created_at for job in jobs if job and job.created_at]
    assert len(created) == 70
    assert created == sorted(created)


async def test_get_jobs_by_status_pages_with_limit_and_offset(make_queue: QueueFactory) -> None:
    queue = make_queue()
    other = make_queue(store=queue.store, name=unique_name())
    pending = [await queue.enqueue("work", {"i": i}) for i in range(7)]
    await other.enqueue("work", {"i": "other queue"})
    cancelled = await queue.enqueue("work")
    assert await queue.cancel(cancelled)

    async def page(status: JobStatus | str, **kw: int) -> list[str]:
        return [job.id for job in await queue.get_jobs_by_status(status, **kw)]

    assert await page(JobStatus.PENDING) == pending
    assert await page(JobStatus.PENDING, limit=3) == pending[:3]
    assert await page(JobStatus.PENDING, limit=3, offset=3) == pending[3:6]
    assert await page(JobStatus.PENDING, limit=3, offset=6) == pending[6:]
    assert await page(JobStatus.PENDING, limit=3, offset=7) == []
    assert await page(JobStatus.PENDING, limit=0) == []
    assert await page("pending", offset=5) == pending[5:]
    assert await page(JobStatus.CANCELLED) == [cancelled]
    assert await page(JobStatus.COMPLETED) == []
    jobs = await queue.get_jobs_by_status(JobStatus.PENDING, limit=2)
    assert [job.payload for job in jobs] == [{"i": 0}, {"i": 1}]
    assert all(job.status is JobStatus.PENDING for job in jobs)


async def test_get_stats_counts_each_status_of_this_queue_only(make_queue: QueueFactory) -> None:
    queue = make_queue()
    other = make_queue(store=queue.store, name=unique_name())
    assert await queue.get_stats() == QueueStats()

    held = [await queue.enqueue("work", priority=JobPriority.CRITICAL) for _ in range(3)]
    for _ in range(2):
        await queue.enqueue("work")
    await queue.schedule("work", None, 3600)
    cancelled = await queue.enqueue("work")
    assert await queue.cancel(cancelled)
    await other.enqueue("work")

    await queue.store.open()
    claimed = await queue.store.claim([queue.name], 3, "test-worker", 60.0)
    assert sorted(r.id for r in claimed) == held
    done, failed, _running = held
    assert await queue.store.settle(
        [
            Outcome(done, "test-worker", 1, JobStatus.COMPLETED, result=b"1"),
            Outcome(failed, "test-worker", 1, JobStatus.FAILED, error="E: x", traceback="tb"),
        ]
    ) == [True, True]

    stats = await queue.get_stats()
    assert stats == QueueStats(
        pending=2, scheduled=1, processing=1, completed=1, failed=1, cancelled=1
    )
    assert stats.total == 7
    assert await other.get_stats() == QueueStats(pending=1)


async def test_clear_completed_removes_only_completed_jobs_of_this_queue(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    other = make_queue(store=queue.store, name=unique_name())
    ids = [await queue.enqueue("work", {"i": i}) for i in range(4)]
    other_id = await other.enqueue("work")
    await queue.store.open()
    for q, count in ((queue, 3), (other, 1)):
        claimed = await q.store.claim([q.name], count, "test-worker", 60.0)
        assert len(claimed) == count
        outcomes = [Outcome(r.id, "test-worker", 1, JobStatus.COMPLETED) for r in claimed]
        assert await q.store.settle(outcomes) == [True] * count

    assert await queue.clear_completed() == 3
    assert [await queue.get_job(job_id) for job_id in ids[:3]] == [None] * 3
    assert await status_of(queue, ids[3]) is JobStatus.PENDING
    assert await status_of(queue, other_id) is JobStatus.COMPLETED
    assert await queue.get_stats() == QueueStats(pending=1)
    assert await queue.clear_completed() == 0
    assert await other.clear_completed() == 1


async def test_enqueue_many_takes_tuples_options_and_mappings(make_queue: QueueFactory) -> None:
    queue = make_queue()
    ids = await queue.enqueue_many(
        [
            ("a", {"n": 1}),
            ("b", [1, 2], {"priority": JobPriority.HIGH, "max_retries": 0}),
            {"name": "c", "payload": "x", "delay": 3600, "timeout": 5, "retry_delay": 0.25},
            {"name": "d"},
        ]
    )
    assert len(ids) == 4
    assert sorted(ids) == ids
    jobs = [await queue.get_job(job_id) for job_id in ids]
    assert all(job is not None for job in jobs)
    a, b, c, d = jobs
    assert a is not None
    assert b is not None
    assert c is not None
    assert d is not None
    assert (a.name, a.payload, a.status) == ("a", {"n": 1}, JobStatus.PENDING)
    assert a.config == JobConfig()
    assert (b.name, b.payload) == ("b", [1, 2])
    assert b.config == JobConfig(max_retries=0, priority=JobPriority.HIGH)
    assert (c.name, c.payload, c.status) == ("c", "x", JobStatus.SCHEDULED)
    assert (c.config.timeout, c.config.retry_delay) == (5.0, 0.25)
    assert c.config.scheduled_at is not None
    assert c.config.scheduled_at > datetime.now(UTC) + timedelta(minutes=59)
    assert (d.name, d.payload, d.status) == ("d", None, JobStatus.PENDING)
    assert all(job.queue == queue.name for job in (a, b, c, d))
    assert await queue.enqueue_many([]) == []


@pytest.mark.parametrize(
    ("bad_item", "error"),
    [
        (("b", {1, 2}), SerializationError),
        (("b", float("nan")), SerializationError),
        (("b", None, {"priority": 9}), InvalidJobError),
        (("b", None, {"delay": -1}), InvalidJobError),
        (("b", None, {"colour": "red"}), InvalidJobError),
        ({"payload": 1}, InvalidJobError),
        (["b", None], InvalidJobError),
        (("b",), InvalidJobError),
    ],
    ids=["set", "nan", "priority", "delay", "unknown-option", "no-name", "list", "1-tuple"],
)
async def test_enqueue_many_is_all_or_none(
    make_queue: QueueFactory, bad_item: object, error: type[Exception]
) -> None:
    queue = make_queue()
    with pytest.raises(error):
        await queue.enqueue_many([("a", 1), bad_item, ("c", 3)])  # type: ignore[list-item]
    assert await queue.get_stats() == QueueStats()


async def test_enqueue_many_refuses_an_unknown_name_where_handlers_exist(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    queue.register("a", lambda job: None)
    with pytest.raises(UnknownJobError, match="'nope'"):
        await queue.enqueue_many([("a", 1), ("nope", 2)])
    assert await queue.get_stats() == QueueStats()


async def test_named_queues_share_a_store_without_mixing(make_queue: QueueFactory) -> None:
    emails = make_queue(workers=1)
    reports = make_queue(store=emails.store, name=unique_name(), workers=1)
    ran: list[tuple[str, str]] = []

    @emails.handler("job")
    async def email(job):
        ran.append((emails.name, job.payload))

    @reports.handler("job")
    async def report(job):
        ran.append((reports.name, job.payload))

    email_id = await emails.enqueue("job", "e")
    report_id = await emails.enqueue("job", "r", queue=reports.name)
    assert (await reports.get_stats()).pending == 1
    await emails.start()
    await emails.wait(email_id, timeout=5)
    assert await status_of(emails, report_id) is JobStatus.PENDING
    await reports.start()
    await reports.wait(report_id, timeout=5)
    assert ran == [(emails.name, "e"), (reports.name, "r")]
