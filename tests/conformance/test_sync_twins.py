"""The blocking twins (``queue.sync.*``) from plain code with no event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from conveyor import JobStatus, QueueStats, WaitTimeoutError, create_queue
from testkit import unique_name


def test_the_sync_twins_work_without_an_event_loop(store_url: str) -> None:
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
    queue = create_queue(workers=2, url=store_url, name=unique_name())
    try:

        @queue.handler("add")
        def add(job):
            return job.payload["a"] + job.payload["b"]

        first = queue.sync.enqueue("add", {"a": 1, "b": 2})
        second, third = queue.sync.enqueue_many(
            [("add", {"a": 2, "b": 2}), {"name": "add", "payload": {"a": 3, "b": 3}}]
        )
        later = queue.sync.schedule("add", {"a": 4, "b": 4}, 0.05)
        never = queue.sync.enqueue("add", {"a": 0, "b": 0}, delay=3600)
        job = queue.sync.get_job(first)
        assert job is not None
        assert (job.status, job.payload) == (JobStatus.PENDING, {"a": 1, "b": 2})
        pending = queue.sync.get_jobs_by_status(JobStatus.PENDING, limit=2, offset=1)
        assert [j.id for j in pending] == [second, third]
        assert queue.sync.get_stats() == QueueStats(pending=3, scheduled=2)
        with pytest.raises(WaitTimeoutError):
            queue.sync.wait(first, timeout=0.05)
        assert queue.sync.cancel(never) is True

        queue.sync.start()
        results = [queue.sync.wait(i, timeout=5).result for i in (first, second, third, later)]
        assert results == [3, 4, 6, 8]
        assert queue.sync.retry_job(never) is True
        assert queue.sync.wait(never, timeout=5).status is JobStatus.COMPLETED
        assert queue.sync.clear_completed() == 5
        assert queue.sync.get_stats() == QueueStats()
        queue.sync.stop(timeout=1)
        assert not queue.is_running
    finally:
        queue.sync.close()


def test_a_worker_started_by_the_twins_picks_up_new_jobs(store_url: str) -> None:
    queue = create_queue(workers=1, url=store_url, name=unique_name())
    try:
        queue.register("echo", lambda job: job.payload)
        queue.sync.start()
        began = time.monotonic()
        ids = [queue.sync.enqueue("echo", i) for i in range(5)]
        assert [queue.sync.wait(i, timeout=5).result for i in ids] == list(range(5))
        assert time.monotonic() - began < 5
    finally:
        queue.sync.close()
