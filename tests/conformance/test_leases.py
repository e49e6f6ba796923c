"""Leases through the Store protocol: recovery, ownership of outcomes, atomic claims."""

from __future__ import annotations

import asyncio

from conftest import QueueFactory
from conveyor import JobStatus, Queue
from conveyor.stores import JobRecord, Outcome
from testkit import eventually, status_of

GHOST = "ghost-worker"  # a worker id no real worker has: it claims and then "dies"


async def ghost_claim(queue: Queue, lease: float, count: int = 1) -> list[JobRecord]:
    await queue.store.open()
    return await queue.store.claim([queue.name], count, GHOST, lease)


async def lease_expired(queue: Queue, record: JobRecord) -> None:
    """Wait until the lease ran out on the store's clock.

    ``clock.now()`` is this process's estimate of the server's clock (Redis, PostgreSQL),
    off by a fraction of a round trip: 50 ms more make sure the server agrees.
    """
    assert record.lease_expires_at is not None
    deadline = record.lease_expires_at + 0.05
    await eventually(lambda: queue.store.clock.now() > deadline, "the lease to run out")


async def test_a_job_of_a_dead_worker_is_run_by_another(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1, lease=1.0)  # recovery checks every 0.5 s
    attempts: list[int] = []

    @queue.handler("job")
    async def handle(job):
        attempts.append(job.attempts)
        return "recovered"

    job_id = await queue.enqueue("job", max_retries=3)
    [record] = await ghost_claim(queue, lease=0.05)
    assert (record.id, record.attempts, record.worker_id) == (job_id, 1, GHOST)
    assert record.status is JobStatus.PROCESSING
    assert await status_of(queue, job_id) is JobStatus.PROCESSING
    await lease_expired(queue, record)

    await queue.start()
    job = await queue.wait(job_id, timeout=5)
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, "recovered", 2)
    assert attempts == [2]


async def test_a_lost_lease_counts_as_an_attempt(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job", max_retries=0)
    held_id = await queue.enqueue("job", max_retries=0)
    [record] = await ghost_claim(queue, lease=0.05)
    [held] = await queue.store.claim([queue.name], 1, "healthy-worker", 60.0)
    assert (record.id, held.id) == (job_id, held_id)
    await lease_expired(queue, record)

    recovered = await queue.store.recover_expired()
    assert job_id in recovered
    assert held_id not in recovered  # its lease is still good
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.status, job.attempts) == (JobStatus.FAILED, 1)
    assert job.error is not None
    assert job.error.startswith("worker lost: lease expired")
    assert await status_of(queue, held_id) is JobStatus.PROCESSING


async def test_renew_keeps_a_lease_alive(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job")
    [record] = await ghost_claim(queue, lease=0.2)
    renewal = await queue.store.renew([job_id], GHOST, 60.0)
    assert (renewal.lost, renewal.cancel_requested) == (frozenset(), frozenset())
    await lease_expired(queue, record)
    assert job_id not in await queue.store.recover_expired()
    assert await status_of(queue, job_id) is JobStatus.PROCESSING


async def test_an_outcome_from_a_worker_that_lost_its_lease_is_rejected(
    make_queue: QueueFactory,
) -> None:
    queue = make_queue()
    store = queue.store
    job_id = await queue.enqueue("job")
    [first] = await ghost_claim(queue, lease=0.05)
    await lease_expired(queue, first)
    assert job_id in await store.recover_expired()
    [second] = await store.claim([queue.name], 1, "new-owner", 60.0)
    assert (second.id, second.attempts, second.worker_id) == (job_id, 2, "new-owner")

    stale = Outcome(job_id, GHOST, 1, JobStatus.COMPLETED, result=b'"stale"')
    assert await store.settle([stale]) == [False]
    assert (await store.renew([job_id], GHOST, 60.0)).lost == {job_id}
    assert await store.set_progress(job_id, GHOST, 10.0, "stale") is False
    wrong_attempt = Outcome(job_id, "new-owner", 1, JobStatus.FAILED, error="E: stale")
    assert await store.settle([wrong_attempt]) == [False]
    assert await status_of(queue, job_id) is JobStatus.PROCESSING

    fresh = Outcome(job_id, "new-owner", 2, JobStatus.COMPLETED, result=b'"fresh"')
    assert await store.settle([fresh]) == [True]
    job = await queue.get_job(job_id)
    assert job is not None
    assert (job.status, job.result, job.attempts) == (JobStatus.COMPLETED, "fresh", 2)
    assert await store.settle([fresh]) == [False]  # an outcome applies once


async def test_concurrent_claims_never_share_a_job(make_queue: QueueFactory) -> None:
    queue = make_queue()
    ids = await queue.enqueue_many([("job", i) for i in range(40)])
    await queue.store.open()
    batches = await asyncio.gather(
        *(queue.store.claim([queue.name], 15, f"worker-{n}", 60.0) for n in range(4))
    )
    claimed = [record.id for batch in batches for record in batch]
    assert len(claimed) == len(set(claimed)) == 40
    assert set(claimed) == set(ids)
    for n, batch in enumerate(batches):
        assert all(r.worker_id == f"worker-{n}" and r.attempts == 1 for r in batch)


async def test_a_cancel_asked_of_a_dead_worker_is_honoured(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1, lease=1.0)
    ran: list[str] = []

    @queue.handler("job")
    async def handle(job):
        ran.append(job.id)

    job_id = await queue.enqueue("job", max_retries=3)
    await ghost_claim(queue, lease=0.05)
    assert await queue.cancel(job_id) is True  # running elsewhere: its worker is asked
    renewal = await queue.store.renew([job_id], GHOST, 0.05)
    assert renewal.cancel_requested == {job_id}
    renewed = await queue.store.get(job_id)
    assert renewed is not None
    assert renewed.status is JobStatus.PROCESSING
    await lease_expired(queue, renewed)

    await queue.start()
    job = await queue.wait(job_id, timeout=5)
    assert job.status is JobStatus.CANCELLED
    assert ran == []


async def test_heartbeats_keep_a_long_job_from_being_recovered(make_queue: QueueFactory) -> None:
    queue = make_queue(workers=1, lease=0.2)  # renewed every ~0.07 s, recovery every 0.1 s
    runs: list[int] = []

    @queue.handler("long")
    async def long(job):
        runs.append(job.attempts)
        await asyncio.sleep(0.8)  # four leases long
        return "done"

    await queue.start()
    job = await queue.wait(await queue.enqueue("long"), timeout=5)
    assert (job.status, job.attempts, job.error) == (JobStatus.COMPLETED, 1, None)
    assert runs == [1]


async def test_two_workers_on_one_queue_run_each_job_once(make_queue: QueueFactory) -> None:
    first = make_queue(workers=3)
    second = make_queue(peer=first, workers=3)
    runs: list[str] = []

    async def record(job) -> None:
        runs.append(job.id)
        await asyncio.sleep(0.01)

    first.register("job", record)
    second.register("job", record)
    await first.start()
    await second.start()
    ids = await first.enqueue_many([("job", i) for i in range(30)])
    for job_id in ids:
        job = await first.wait(job_id, timeout=10)
        assert (job.status, job.attempts) == (JobStatus.COMPLETED, 1)
    assert sorted(runs) == sorted(ids)  # every job once, none twice


async def test_a_claimed_job_is_the_job_as_stored(make_queue: QueueFactory) -> None:
    # What a claim gives a worker is the job's stored state: every field, a retry's last
    # error included (the Redis store reads claimed jobs its own way, field by field).
    queue = make_queue()
    job_id = await queue.enqueue(
        "job", {"n": 1}, key="only-one", priority=3, max_retries=2, retry_delay=0, timeout=5
    )
    [first] = await ghost_claim(queue, lease=60.0)
    assert first == await queue.store.get(job_id)
    failed = Outcome(job_id, GHOST, first.attempts, JobStatus.SCHEDULED,
                     error="ValueError: no", traceback="Traceback ...\nValueError: no")  # fmt: skip
    assert await queue.store.settle([failed]) == [True]

    [second] = await eventually(lambda: ghost_claim(queue, lease=60.0), "the retry's claim")
    assert (second.attempts, second.error, second.traceback) == (2, failed.error, failed.traceback)
    assert second == await queue.store.get(job_id)
