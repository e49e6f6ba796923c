"""A job's slot is free once its handler ends, while its outcome is still being stored."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence

import pytest

from conveyor import Job, JobStatus, Queue, create_queue
from conveyor.runtime.worker import Worker
from conveyor.stores import JobRecord, Outcome
from testkit import eventually


def hold_outcomes(queue: Queue) -> asyncio.Event:
    """Make the queue's store keep every outcome back until the returned event is set."""
    stored = asyncio.Event()
    settle = queue.store.settle

    async def held_settle(outcomes: Sequence[Outcome]) -> list[bool]:
        await stored.wait()
        return await settle(outcomes)

    queue.store.settle = held_settle  # type: ignore[method-assign]
    return stored


async def test_claims_go_on_while_outcomes_are_stored_but_settling_jobs_are_bounded() -> None:
    queue = create_queue(2, "memory://")
    started: list[int] = []
    in_handler = 0
    most_in_handler = 0

    @queue.handler("job")
    async def job(job: object) -> None:
        nonlocal in_handler, most_in_handler
        in_handler += 1
        most_in_handler = max(most_in_handler, in_handler)
        started.append(1)
        await asyncio.sleep(0)
        in_handler -= 1

    stored = hold_outcomes(queue)
    ids = [await queue.enqueue("job", {}) for _ in range(10)]
    await queue.start()
    try:
        # Two ran and wait for their outcomes to be stored; two more were claimed and
        # ran meanwhile (slots are free once handlers end), and then no more: at most
        # `workers` jobs settle beside `workers` in handlers.
        await eventually(lambda: len(started) == 4, "four jobs started")
        await asyncio.sleep(0.2)
        assert len(started) == 4
        stored.set()
        for job_id in ids:
            assert (await queue.wait(job_id, timeout=10)).status is JobStatus.COMPLETED
        assert len(started) == 10
        assert most_in_handler <= 2
    finally:
        stored.set()
        await queue.stop()


async def test_a_concurrency_limit_slot_is_given_back_when_the_handler_ends() -> None:
    queue = create_queue(2, "memory://")
    started: list[int] = []

    @queue.handler("limited", concurrency=1)
    async def limited(job: object) -> None:
        started.append(1)

    stored = hold_outcomes(queue)
    for _ in range(3):
        await queue.enqueue("limited", {})
    await queue.start()
    try:
        # The first job's outcome is held back; its slot of the limit is not: the
        # second job takes it (before, it was postponed until the outcome was stored).
        await eventually(lambda: len(started) >= 2, "a second limited job started", timeout=2)
    finally:
        stored.set()
        await queue.stop()


async def test_a_cancel_that_comes_while_the_outcome_is_stored_does_not_drop_it() -> None:
    queue = create_queue(2, "memory://", lease=0.3)  # heartbeats every 0.1 s
    finished: list[str] = []

    @queue.handler("job")
    async def job(job: object) -> None:
        finished.append("ran")

    stored = hold_outcomes(queue)
    job_id = await queue.enqueue("job", {})
    await queue.start()
    try:
        await eventually(lambda: finished == ["ran"], "the handler ran")
        # The handler is over; its outcome waits. Both the cancel's own call and the
        # next heartbeat (which sees the cancel flag) reach the worker meanwhile.
        assert await queue.cancel(job_id)
        await asyncio.sleep(0.25)
        stored.set()
        assert (await queue.wait(job_id, timeout=2)).status is JobStatus.COMPLETED
    finally:
        stored.set()
        await queue.stop()


async def test_a_job_cancelled_before_its_task_begins_is_still_settled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    queue = create_queue(2, "memory://")
    ran: list[int] = []

    @queue.handler("job")
    async def job(job: object) -> None:
        ran.append(1)

    start = Worker._start

    def start_then_cancel(worker: Worker, record: JobRecord, lane: int = 0) -> None:
        start(worker, record, lane)
        # The task exists but has not run a step: a cancel now must not lose the job.
        assert worker.cancel_local(record.id)

    monkeypatch.setattr(Worker, "_start", start_then_cancel)
    job_id = await queue.enqueue("job", {})
    await queue.start()
    try:
        assert (await queue.wait(job_id, timeout=2)).status is JobStatus.CANCELLED
        assert ran == []
    finally:
        await queue.stop()


@pytest.mark.parametrize("concurrency", [1, 5, 10])
def test_the_slots_are_split_between_the_claim_lanes(concurrency: int) -> None:
    queue = create_queue(concurrency, "memory://")
    queue.store.capabilities = dataclasses.replace(queue.store.capabilities, claim_lanes=2)
    worker = Worker(
        store=queue.store, handlers={}, queues=["q"], concurrency=concurrency, lease=30.0,
        serializer=queue.serializer, emitter=queue.emitter, make_job=lambda r: None,  # type: ignore[arg-type,return-value]
    )  # fmt: skip
    shares = worker._lane_shares()
    assert sum(shares) == concurrency
    assert len(shares) == min(2, concurrency)
    assert max(shares) - min(shares) <= 1


async def test_two_claim_lanes_keep_two_claims_in_flight_and_no_more_jobs_than_slots() -> None:
    queue = create_queue(4, "memory://")
    store = queue.store
    store.capabilities = dataclasses.replace(store.capabilities, claim_lanes=2)
    claim = store.claim
    in_flight = most_in_flight = 0
    limits: list[int] = []

    async def slow_claim(queues: Sequence[str], limit: int, *args: object) -> list[JobRecord]:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        limits.append(limit)
        try:
            await asyncio.sleep(0.01)  # a round trip
            return await claim(queues, limit, *args)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    store.claim = slow_claim  # type: ignore[method-assign]
    running = most_running = 0
    ran: list[int] = []

    @queue.handler("job")
    async def job(job: Job) -> None:
        nonlocal running, most_running
        running += 1
        most_running = max(most_running, running)
        await asyncio.sleep(0.002)
        ran.append(job.payload)
        running -= 1

    ids = await queue.enqueue_many([("job", i) for i in range(40)])
    await queue.start()
    try:
        for job_id in ids:
            assert (await queue.wait(job_id, timeout=10)).status is JobStatus.COMPLETED
    finally:
        await queue.stop()
    assert sorted(ran) == list(range(40))  # each ran once
    assert most_running <= 4
    assert most_in_flight == 2
    assert max(limits) <= 2  # each lane claims for its own half of the slots


async def test_an_idle_worker_with_two_lanes_fills_every_slot_from_a_burst_at_once() -> None:
    queue = create_queue(4, "memory://")
    queue.store.capabilities = dataclasses.replace(queue.store.capabilities, claim_lanes=2)
    started: list[float] = []
    release = asyncio.Event()

    @queue.handler("job")
    async def job(job: Job) -> None:
        started.append(asyncio.get_running_loop().time())
        await release.wait()

    await queue.start()
    try:
        await asyncio.sleep(0.05)  # both lanes idle: one waits on the store, one for it
        sent = asyncio.get_running_loop().time()
        await queue.enqueue_many([("job", i) for i in range(4)])
        await eventually(lambda: len(started) == 4, "every slot busy", timeout=2)
        assert max(started) - sent < 0.5  # not a lane's idle poll (1 s) later
    finally:
        release.set()
        await queue.stop()
