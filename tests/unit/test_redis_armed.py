"""The Redis store's idle wait: a blocking pop on the queues' bells with a claim behind it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis

from conveyor.errors import BackendUnavailableError
from conveyor.job import JobStatus
from conveyor.stores.redis import RedisStore
from servers import REDIS, namespace_on
from testkit import job_record, unique_name

WORKER = "worker-1"


@pytest.fixture
def url() -> Iterator[str]:
    with namespace_on(REDIS) as url:
        yield url


@pytest.fixture
async def waiting(url: str) -> AsyncIterator[RedisStore]:
    """The worker's store, as a worker leaves it after a first claim and wait found nothing.

    The first wait subscribes the listener, which then fires the change signal (so that
    no change can fall between claim and subscription): that wait ends there.
    """
    store = RedisStore(url)
    await store.open()
    assert await store.claim(["q"], 1, WORKER, 30.0) == []
    assert await asyncio.wait_for(wait(store, 5.0), 4) == []
    yield store
    await store.close()


@pytest.fixture
async def producer(url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(url)
    yield store
    await store.close()


@pytest.fixture
def server(url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(url.split("?")[0])
    yield client
    client.close()


def bell(store: RedisStore, queue: str = "q") -> str:
    return store.keys.bell(queue)


def blocked_ids(server: redis.Redis) -> set[str]:
    """The ids of the server's clients blocked in a BLPOP."""
    return {client["id"] for client in server.client_list() if client["cmd"] == "blpop"}


async def wait(store: RedisStore, timeout: float, queues: tuple[str, ...] = ("q",)) -> list:
    return await store.wait_for_work(
        list(queues), 5, WORKER, 30.0, timeout, store.changes.generation
    )


async def test_an_enqueue_elsewhere_hands_the_job_to_the_waiting_worker(
    waiting: RedisStore, producer: RedisStore
) -> None:
    job_id = unique_name("job")
    waiter = asyncio.create_task(wait(waiting, 10.0))
    await asyncio.sleep(0.2)  # blocked on the server by now
    started = time.monotonic()
    await producer.enqueue([job_record(job_id, "q")])
    claimed = await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2
    assert [(r.id, r.status, r.worker_id, r.attempts) for r in claimed] == [
        (job_id, JobStatus.PROCESSING, WORKER, 1)
    ]


async def test_a_wait_on_several_queues_wakes_for_any_of_them(
    waiting: RedisStore, producer: RedisStore
) -> None:
    job_id = unique_name("job")
    waiter = asyncio.create_task(wait(waiting, 10.0, ("q", "other")))
    await asyncio.sleep(0.2)
    await producer.enqueue([job_record(job_id, "other"), job_record(unique_name("job"), "third")])
    claimed = await asyncio.wait_for(waiter, 5)
    assert [r.id for r in claimed] == [job_id]


async def test_a_change_without_a_bell_unblocks_the_wait_and_the_claim_runs(
    waiting: RedisStore, producer: RedisStore, server: redis.Redis
) -> None:
    # Work made ready some other way (a retry, a recovered lease) rings no bell: the
    # change signal does the waking.
    job_id = unique_name("job")
    await producer.enqueue([job_record(job_id, "q")])
    server.delete(bell(waiting))
    generation = waiting.changes.generation
    waiter = asyncio.create_task(waiting.wait_for_work(["q"], 5, WORKER, 30.0, 10.0, generation))
    await asyncio.sleep(0.2)
    assert not waiter.done()
    started = time.monotonic()
    waiting.changes.fire()
    claimed = await asyncio.wait_for(waiter, 5)
    assert time.monotonic() - started < 2
    assert [r.id for r in claimed] == [job_id]


async def test_a_change_before_the_wait_returns_at_once_and_claims_nothing(
    waiting: RedisStore, producer: RedisStore, server: redis.Redis
) -> None:
    await producer.enqueue([job_record(unique_name("job"), "q")])
    generation = waiting.changes.generation
    waiting.changes.fire()
    started = time.monotonic()
    assert await waiting.wait_for_work(["q"], 5, WORKER, 30.0, 10.0, generation) == []
    assert time.monotonic() - started < 1
    assert (await waiting.stats("q")).pending == 1


async def test_the_wait_ends_at_its_timeout(waiting: RedisStore) -> None:
    started = time.monotonic()
    assert await wait(waiting, 0.3) == []
    assert 0.25 <= time.monotonic() - started < 2


async def test_a_delayed_job_that_comes_due_is_claimed_when_the_wait_times_out(
    waiting: RedisStore, producer: RedisStore
) -> None:
    job_id = unique_name("job")
    due = time.time() + 0.6
    await producer.enqueue([job_record(job_id, "q", status=JobStatus.SCHEDULED, run_at=due)])
    await asyncio.sleep(0.2)  # its job:added message came (and woke nobody: no wait yet)
    claimed = await wait(waiting, due - time.time() + 0.05)
    assert [r.id for r in claimed] == [job_id]


async def test_a_bell_keeps_one_token_while_nobody_waits(
    producer: RedisStore, server: redis.Redis
) -> None:
    for _ in range(5):
        await producer.enqueue([job_record(unique_name("job"), "q")])
    await producer.enqueue([job_record(unique_name("job"), "q") for _ in range(3)])
    await producer.enqueue([job_record(unique_name("job"), "q", status=JobStatus.SCHEDULED)])
    assert server.llen(bell(producer)) == 1


async def test_a_stale_token_makes_the_next_wait_return_at_once(
    waiting: RedisStore, producer: RedisStore, server: redis.Redis
) -> None:
    job_id = unique_name("job")
    await producer.enqueue([job_record(job_id, "q")])
    assert server.llen(bell(waiting)) == 1
    claimed = await wait(waiting, 10.0)
    assert [r.id for r in claimed] == [job_id]
    assert server.llen(bell(waiting)) == 0


async def test_a_killed_connection_is_an_outage_and_the_next_wait_reconnects(
    waiting: RedisStore, producer: RedisStore, server: redis.Redis
) -> None:
    others = blocked_ids(server)  # other tests' servers' clients, if any
    waiter = asyncio.create_task(wait(waiting, 10.0))
    ours: set[str] = set()
    for _ in range(250):
        if ours := blocked_ids(server) - others:
            break
        await asyncio.sleep(0.02)
    assert len(ours) == 1
    server.client_kill_filter(_id=ours.pop())
    with pytest.raises(BackendUnavailableError):
        await asyncio.wait_for(waiter, 5)
    job_id = unique_name("job")
    waiter = asyncio.create_task(wait(waiting, 10.0))
    await asyncio.sleep(0.2)
    await producer.enqueue([job_record(job_id, "q")])
    assert [r.id for r in await asyncio.wait_for(waiter, 5)] == [job_id]


async def test_a_cancelled_wait_leaves_no_blocked_connection(
    waiting: RedisStore, server: redis.Redis
) -> None:
    others = blocked_ids(server)
    waiter = asyncio.create_task(wait(waiting, 10.0))
    for _ in range(250):
        if blocked_ids(server) - others:
            break
        await asyncio.sleep(0.02)
    assert blocked_ids(server) - others
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    for _ in range(250):
        if not blocked_ids(server) - others:
            break
        await asyncio.sleep(0.02)
    assert not blocked_ids(server) - others


async def test_a_server_that_refuses_the_bell_wait_leaves_pub_sub_waking_the_worker(
    url: str, server: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    # An ACL user without CLIENT (so no CLIENT ID, no CLIENT UNBLOCK).
    user = unique_name("conveyor-test")
    server.acl_setuser(
        user, enabled=True, nopass=True, keys=["*"], channels=["*"], commands=["+@all", "-client"]
    )
    try:
        limited = RedisStore(url.replace("redis://", f"redis://{user}@", 1))
        producer = RedisStore(url)
        try:
            await limited.open()
            assert await limited.claim(["q"], 1, WORKER, 30.0) == []
            assert await asyncio.wait_for(wait(limited, 5.0), 4) == []  # refused, then subscribed
            assert "wait for pub/sub messages only" in caplog.text
            waiter = asyncio.create_task(wait(limited, 10.0))
            await asyncio.sleep(0.2)
            assert not waiter.done()
            started = time.monotonic()
            await producer.enqueue([job_record(unique_name("job"), "q")])
            assert await asyncio.wait_for(waiter, 5) == []  # woken; the worker claims next
            assert time.monotonic() - started < 2
        finally:
            await limited.close()
            await producer.close()
    finally:
        server.acl_deluser(user)
