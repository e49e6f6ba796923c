"""Concurrency limits: at most N jobs of a handler (or of a key) at once, over every
queue object on the store, each on its own connections as another process would be."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from conftest import QueueFactory
from conveyor import Job, JobStatus, Queue
from conveyor.errors import HandlerRegistrationError, InvalidJobError
from conveyor.ids import new_job_id
from conveyor.stores.records import JobRecord


async def test_slots_are_taken_renewed_released_and_run_out(make_queue: QueueFactory) -> None:
    store = make_queue().store
    assert await store.acquire_slot("q:backup", 1, "job-a", 30.0)
    assert not await store.acquire_slot("q:backup", 1, "job-b", 30.0)
    assert await store.acquire_slot("q:backup", 1, "job-a", 30.0)  # renewed
    assert await store.acquire_slot("q:other", 1, "job-b", 30.0)  # buckets apart
    await store.release_slot("q:backup", "job-a")
    assert await store.acquire_slot("q:backup", 1, "job-b", 0.2)
    await asyncio.sleep(0.4)  # job-b's slot ran out (its worker died)
    assert await store.acquire_slot("q:backup", 1, "job-c", 30.0)


def track(queues: list[Queue], name: str, **options: Any) -> dict[str, Any]:
    """Register ``name`` on every queue object; record how many ran at once, per key."""
    seen: dict[str, Any] = {"now": Counter(), "most": Counter(), "total": 0, "most_total": 0}

    async def handler(job: Job) -> None:
        key = job.payload.get("db", "")
        seen["now"][key] += 1
        seen["total"] += 1
        seen["most"][key] = max(seen["most"][key], seen["now"][key])
        seen["most_total"] = max(seen["most_total"], seen["total"])
        await asyncio.sleep(0.1)
        seen["now"][key] -= 1
        seen["total"] -= 1

    for queue in queues:
        queue.register(name, handler, **options)
    return seen


async def test_a_handlers_limit_holds_over_queue_objects(make_queue: QueueFactory) -> None:
    first = make_queue(workers=4)
    second = make_queue(peer=first, workers=4)
    seen = track([first, second], "backup", concurrency=2)
    ids = await first.enqueue_many([("backup", {"n": n}) for n in range(8)])
    await first.start()
    await second.start()
    done = [await first.wait(job_id, timeout=30) for job_id in ids]
    assert all(job.status is JobStatus.COMPLETED for job in done)
    assert all(job.attempts == 1 for job in done)  # waiting for a slot used no attempt
    assert seen["most"][""] == 2


async def test_a_limit_per_key(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=6)
    seen = track([queue], "vacuum", concurrency=1, concurrency_key=lambda p: p["db"])
    ids = await queue.enqueue_many([("vacuum", {"db": db}) for db in ("a", "b") * 3])
    await queue.start()
    for job_id in ids:
        assert (await queue.wait(job_id, timeout=30)).status is JobStatus.COMPLETED
    assert (seen["most"]["a"], seen["most"]["b"]) == (1, 1)
    assert seen["most_total"] == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"concurrency": 0}, "1 or more"),
        ({"concurrency": True}, "whole number"),
        ({"concurrency_key": lambda p: p}, "needs concurrency"),
        ({"concurrency": 1, "concurrency_key": "db"}, "function of the payload"),
    ],
)
def test_bad_limits_are_refused(
    make_queue: QueueFactory, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(HandlerRegistrationError, match=message):
        make_queue().register("job", lambda job: None, **options)


@pytest.mark.parametrize("error", [KeyError("db"), InvalidJobError("no db in this payload")])
@pytest.mark.parametrize(
    "limit",
    [{"concurrency": 1, "concurrency_key": "key"}, {"rate_limit": "10/s", "rate_key": "key"}],
)
async def test_a_key_function_that_raises_fails_the_attempt(
    make_queue: QueueFactory, limit: dict[str, Any], error: Exception
) -> None:
    queue = make_queue(workers=2)

    def key(payload: Any) -> str:
        raise error

    async def vacuum(job: Job) -> None:
        raise AssertionError("the handler ran")

    options = {name: key if value == "key" else value for name, value in limit.items()}
    queue.register("vacuum", vacuum, max_retries=0, **options)
    job_id = await queue.enqueue("vacuum", {})
    await queue.start()
    job = await queue.wait(job_id, timeout=30)
    assert job.status is JobStatus.FAILED  # even a ConveyorError: not an outage, not postponed
    assert job.attempts == 1
    assert type(error).__name__ in (job.error or "")


async def test_a_job_that_a_start_gate_cannot_read_fails_instead_of_hanging(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=2)
    queue.register("report", lambda job: None, max_retries=0)
    now = queue.store.clock.now()
    unreadable = JobRecord(
        id=new_job_id(), queue=queue.name, name="report", payload=b"null",
        status=JobStatus.PENDING, priority=0, max_retries=0, retry_delay=1.0, timeout=None,
        backoff=None, created_at=now, run_at=now,
        headers='{"conveyor-depends-on": "[not json"}',  # written by no conveyor
    )  # fmt: skip
    await queue.store.enqueue([unreadable])
    await queue.start()
    job = await queue.wait(unreadable.id, timeout=30)
    assert job.status is JobStatus.FAILED
    assert "JSONDecodeError" in (job.error or "")
