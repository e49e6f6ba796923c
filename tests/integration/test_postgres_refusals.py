"""A PostgreSQL server that refuses writes is an outage; the store follows a failover.

Two private clusters stand for a primary and the server a failover promotes; the URL
names both with ``target_session_attrs=read-write``, as a production URL does. The
first turns read-only (``default_transaction_read_only``, as a demoted primary or a
standby refuses writes, ``25006``) while a store is connected to it: enqueues and claims
raise :class:`BackendUnavailableError` (those of calling threads, ``queue.sync``'s, too),
nothing is stored, and the store replaces its connections (the listener's and the
calling threads' too), which reach the writable one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import psycopg
import pytest
from private_servers import PrivatePostgres

from conveyor import BackendUnavailableError
from conveyor.stores.postgres import PostgresStore
from testkit import job_record, unique_name

WORKER = "worker-1"


@pytest.fixture
def servers() -> Iterator[tuple[PrivatePostgres, PrivatePostgres]]:
    with PrivatePostgres() as first, PrivatePostgres() as second:
        yield first, second


def _read_only(server: PrivatePostgres) -> None:
    server.sql("ALTER SYSTEM SET default_transaction_read_only = on")
    server.sql("SELECT pg_reload_conf()")


def _job_ids(server: PrivatePostgres) -> set[str]:
    with psycopg.connect(server.url) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM conveyor.jobs")}


async def _enqueue(store: PostgresStore, job_id: str, *, here: bool = False) -> None:
    """Enqueue on the event loop, or (``here``) on a thread as ``queue.sync`` does."""
    if here:
        assert await asyncio.to_thread(store.enqueue_here, [job_record(job_id, "q")])
    else:
        await store.enqueue([job_record(job_id, "q")])


async def _enqueue_until_stored(store: PostgresStore, job_id: str, *, here: bool = False) -> int:
    """Enqueue as a producer that retries on an outage does; return how many were refused."""
    refused = 0
    deadline = time.monotonic() + 20
    while True:
        try:
            await _enqueue(store, job_id, here=here)
            return refused
        except BackendUnavailableError:
            refused += 1
            assert time.monotonic() < deadline, "the store never reached the writable server"
            await asyncio.sleep(0.05)


async def test_a_server_turned_read_only_is_an_outage_and_the_store_follows_the_writable_one(
    servers: tuple[PrivatePostgres, PrivatePostgres],
) -> None:
    first, second = servers
    url = (
        f"postgresql://postgres@127.0.0.1:{first.port},127.0.0.1:{second.port}/postgres"
        "?target_session_attrs=read-write"
    )
    # ``threads`` enqueues on calling threads only: its connections are not ``store``'s.
    store, threads = PostgresStore(url), PostgresStore(url)
    elsewhere = PostgresStore(second.url)
    try:
        await store.open()
        await threads.open()
        before = [unique_name("job") for _ in range(3)]
        await _enqueue(store, before[0])
        await _enqueue(store, before[1], here=True)  # a calling thread's connection, kept
        await _enqueue(threads, before[2], here=True)
        assert _job_ids(first) == set(before)

        _read_only(first)
        stored_before = set(before)
        after = []
        for enqueuer, here in ((store, False), (threads, True)):
            # Each server process reads the new setting when it is signalled, a moment
            # after the reload returns: enqueue until one is refused (those before it are
            # stored).
            deadline = time.monotonic() + 10
            while True:
                job_id = unique_name("job")
                try:
                    await _enqueue(enqueuer, job_id, here=here)
                except BackendUnavailableError as exc:
                    refusal = str(exc)
                    break
                stored_before.add(job_id)
                assert time.monotonic() < deadline, "the server never turned read-only"
            assert "read-only" in refusal
            after.append(unique_name("job"))
            await _enqueue_until_stored(enqueuer, after[-1], here=here)
        # The loop's refusal closed the store's idle calling-thread connection too: the
        # next one reaches the writable server at once.
        after.append(unique_name("job"))
        assert await _enqueue_until_stored(store, after[-1], here=True) == 0
        assert _job_ids(first) == stored_before  # the refused enqueues stored nothing
        assert _job_ids(second) == set(after)
        claimed = await store.claim(["q"], 5, WORKER, 30.0)  # on second
        assert sorted(r.id for r in claimed) == sorted(after)

        # The listener moved too: a job another process enqueues there wakes a waiter here.
        await store.changes.wait(10.0)  # a first waiter: LISTEN runs, and fires the signal
        since = store.changes.generation
        waiter = asyncio.create_task(store.changes.wait(10.0, since=since))
        await elsewhere.enqueue([job_record(unique_name("job"), "q")])
        await asyncio.wait_for(waiter, 5)
        assert store.changes.generation > since
    finally:
        await store.close()
        await threads.close()
        await elsewhere.close()
