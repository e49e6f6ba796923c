"""Retention on every store: finished jobs older than the queue (or their handler) keeps
them are deleted, in batches, by ``prune()`` and by started queues on their own."""

from __future__ import annotations

import asyncio

import pytest

from conftest import QueueFactory
from conveyor import ConfigurationError, HandlerRegistrationError, JobStatus, create_queue
from testkit import finish


async def test_prune_deletes_what_is_past_its_retention(make_queue: QueueFactory) -> None:
    queue = make_queue(keep_completed=0.2, keep_failed=3600)
    queue.register("short", lambda job: None)
    queue.register("long", lambda job: None, keep_completed=3600)
    queue.register("failing", lambda job: None, keep_failed=0.2)
    short = await queue.enqueue_many([("short", n) for n in range(3)])
    long = await queue.enqueue_many([("long", n) for n in range(2)])
    await finish(queue, short + long, JobStatus.COMPLETED)
    failed = await queue.enqueue_many([("short", 1), ("failing", 2)])
    await finish(queue, failed, JobStatus.FAILED)
    fresh = await queue.enqueue("short", 9)  # pending: never pruned
    assert await queue.prune() == 0  # nothing is old enough yet
    await asyncio.sleep(0.3)
    assert await queue.prune() == 4  # 3 short completed, the failing one
    assert [await queue.get_job(job_id) for job_id in short] == [None] * 3
    assert None not in [await queue.get_job(job_id) for job_id in long]
    assert await queue.get_job(failed[0]) is not None  # the queue keeps failed jobs an hour
    assert await queue.get_job(failed[1]) is None  # its handler only 0.2 s
    assert await queue.get_job(fresh) is not None


async def test_a_started_queue_prunes_on_its_own(
    make_queue: QueueFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.runtime.retention

    monkeypatch.setattr(conveyor.runtime.retention, "PRUNE_EVERY", 0.1)
    monkeypatch.setattr(conveyor.runtime.retention, "PRUNE_BATCH", 2)
    queue = make_queue(keep_completed=0.0, workers=2)
    queue.register("work", lambda job: None)
    ids = await queue.enqueue_many([("work", n) for n in range(5)])
    await queue.start()
    for _ in range(100):
        if [await queue.get_job(job_id) for job_id in ids] == [None] * 5:
            break
        await asyncio.sleep(0.05)
    assert [await queue.get_job(job_id) for job_id in ids] == [None] * 5
    assert (await queue.get_stats()).total == 0


def test_bad_retention_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="keep_completed"):
        create_queue(url="memory://", keep_completed=-1)
    queue = create_queue(url="memory://")
    with pytest.raises(HandlerRegistrationError, match="keep_failed"):
        queue.register("x", lambda job: None, keep_failed="a week")
