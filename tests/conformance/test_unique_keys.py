"""Unique jobs: enqueue(key=...) adds one job per key while it waits or runs, on every store."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from conftest import QueueFactory
from conveyor import JobStatus
from conveyor.errors import InvalidJobError


async def test_a_key_held_by_a_waiting_job_returns_that_job(make_queue: QueueFactory) -> None:
    queue = make_queue()
    first = await queue.enqueue("invoice", {"n": 1}, key="invoice-42")
    again = await queue.enqueue("invoice", {"n": 2}, key="invoice-42")
    other = await queue.enqueue("invoice", {"n": 3}, key="invoice-43")
    later = await queue.enqueue("invoice", {"n": 4}, key="invoice-44", delay=3600)
    assert again == first
    assert len({first, other, later}) == 3
    assert await queue.enqueue("invoice", {}, key="invoice-44") == later  # scheduled holds it
    assert (await queue.get_stats()).total == 3
    job = await queue.get_job(first)
    assert job is not None
    assert job.payload == {"n": 1}


async def test_keys_are_per_queue(make_queue: QueueFactory) -> None:
    queue = make_queue()
    here = await queue.enqueue("report", key="daily")
    there = await queue.enqueue("report", key="daily", queue=f"{queue.name}-other")
    assert here != there


async def test_a_running_job_holds_its_key_and_a_finished_one_lets_go(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue(workers=1)
    started, release = asyncio.Event(), asyncio.Event()

    @queue.handler("sync-account")
    async def sync_account(job: object) -> str:
        started.set()
        await release.wait()
        return "synced"

    await queue.start()
    first = await queue.enqueue("sync-account", key="account-7")
    await asyncio.wait_for(started.wait(), 10)
    assert await queue.enqueue("sync-account", key="account-7") == first
    release.set()
    assert (await queue.wait(first, timeout=10)).status is JobStatus.COMPLETED
    second = await queue.enqueue("sync-account", key="account-7")
    assert second != first
    assert (await queue.wait(second, timeout=10)).status is JobStatus.COMPLETED


async def test_unique_for_keeps_the_key_after_the_job_finished(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1)
    queue.register("digest", lambda job: "sent")
    await queue.start()
    first = await queue.enqueue("digest", key="user-1", unique_for=timedelta(hours=1))
    assert (await queue.wait(first, timeout=10)).status is JobStatus.COMPLETED
    assert await queue.enqueue("digest", key="user-1", unique_for=3600) == first
    brief = await queue.enqueue("digest", key="user-2", unique_for=0.3)
    assert (await queue.wait(brief, timeout=10)).status is JobStatus.COMPLETED
    await asyncio.sleep(0.5)
    assert await queue.enqueue("digest", key="user-2") != brief


async def test_a_failed_or_cancelled_job_lets_go_of_its_key(make_queue: QueueFactory) -> None:
    queue = make_queue()
    first = await queue.enqueue("job", key="k")
    assert await queue.cancel(first)
    second = await queue.enqueue("job", key="k")
    assert second != first
    assert await queue.delete_job(second)
    assert await queue.enqueue("job", key="k") not in (first, second)


async def test_racing_enqueues_of_one_key_add_one_job(make_queue: QueueFactory) -> None:
    queue = make_queue()
    peers = [queue, make_queue(peer=queue), make_queue(peer=queue)]  # their own connections
    ids = await asyncio.gather(
        *(peer.enqueue("charge", {"n": n}, key="order-9") for n in range(40) for peer in peers)
    )
    assert len(set(ids)) == 1
    stats = await queue.get_stats()
    assert stats.total == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"key": ""}, "key must be a non-empty string"),
        ({"key": 42}, "key must be a non-empty string"),
        ({"key": "x" * 513}, "at most 512 characters"),
        ({"unique_for": 60}, "unique_for needs a key"),
        ({"key": "k", "unique_for": -1}, "unique_for"),
    ],
)
async def test_bad_keys_are_refused(
    make_queue: QueueFactory, options: dict[str, object], message: str
) -> None:
    queue = make_queue()
    with pytest.raises(InvalidJobError, match=message):
        await queue.enqueue("job", **options)  # type: ignore[arg-type]
    with pytest.raises(InvalidJobError, match="unique keys are for enqueue"):
        await queue.enqueue_many([("job", {}, {"key": "k"})])
    assert (await queue.get_stats()).total == 0
