"""A Redis server that refuses commands for a while is an outage, never a success.

Each case is a private ``redis-server`` put in a state where real servers answer every
write (or every command) with an error reply: a replica whose primary is gone, one
cut off from it, a primary short of the replicas it must write to, a full one, one
busy with a long script. Every store call there raises :class:`BackendUnavailableError`
naming the reply, on the one-command path, the idle worker's pipelined wait and the
calling thread's enqueue (``queue.sync``) alike; nothing is stored; and once the server
serves again, the same store works on, with no reopening.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from private_servers import PrivateRedis

from conveyor import BackendUnavailableError
from conveyor.stores.records import JobRecord
from conveyor.stores.redis import RedisStore
from testkit import job_record, unique_name

WORKER = "worker-1"


def _replica_of_nowhere(client: redis.Redis) -> None:
    client.replicaof("127.0.0.1", "1")  # a primary that never answers


def _cut_off_replica(client: redis.Redis) -> None:
    _replica_of_nowhere(client)
    client.config_set("replica-serve-stale-data", "no")


def _short_of_replicas(client: redis.Redis) -> None:
    client.config_set("min-replicas-to-write", "1")


def _full(client: redis.Redis) -> None:
    client.config_set("maxmemory", "1")


def _serving(client: redis.Redis) -> None:
    client.replicaof("NO", "ONE")
    client.config_set("replica-serve-stale-data", "yes")
    client.config_set("min-replicas-to-write", "0")
    client.config_set("maxmemory", "0")


REFUSALS: dict[str, tuple[Callable[[redis.Redis], None], set[str]]] = {
    # code: (what puts the server in that state, what besides enqueues it refuses)
    "READONLY": (_replica_of_nowhere, {"claim", "wait"}),
    "MASTERDOWN": (_cut_off_replica, {"claim", "wait", "read"}),
    "NOREPLICAS": (_short_of_replicas, {"claim", "wait"}),
    # A full server still hands out jobs (which frees memory): only writes that add fail.
    "OOM": (_full, set()),
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with PrivateRedis(tmp_path / "redis") as private:
        yield private


async def _store(server: PrivateRedis) -> RedisStore:
    store = RedisStore(f"{server.url}?prefix={unique_name('refusals')}")
    await store.open()
    assert await store.claim(["q"], 1, WORKER, 30.0) == []  # scripts loaded, connections made
    return store


async def _idle_wait(store: RedisStore, timeout: float) -> list[JobRecord]:
    return await store.wait_for_work(["q"], 5, WORKER, 30.0, timeout, store.changes.generation)


async def _work(store: RedisStore) -> list[JobRecord]:
    """Claim, or wait for work (which may end early, empty), as a worker does: the jobs."""
    while True:
        generation = store.changes.generation
        if jobs := await store.claim(["q"], 5, WORKER, 30.0):
            return jobs
        if jobs := await store.wait_for_work(["q"], 5, WORKER, 30.0, 5.0, generation):
            return jobs


@pytest.mark.parametrize("code", sorted(REFUSALS))
async def test_a_refusing_server_is_an_outage_and_the_store_recovers(
    server: PrivateRedis, code: str
) -> None:
    refuse, refused = REFUSALS[code]
    store = await _store(server)
    try:
        with server.client() as client:
            refuse(client)
            kept = unique_name("job")
            with pytest.raises(BackendUnavailableError, match=code):
                await store.enqueue([job_record(kept, "q")])
            with pytest.raises(BackendUnavailableError, match=code):
                await store.enqueue([job_record(unique_name("job"), "q") for _ in range(3)])
            with pytest.raises(BackendUnavailableError, match=code):
                await asyncio.to_thread(store.enqueue_here, [job_record(kept, "q")])
            if "claim" in refused:
                with pytest.raises(BackendUnavailableError, match=code):
                    await store.claim(["q"], 5, WORKER, 30.0)
            else:
                assert await store.claim(["q"], 5, WORKER, 30.0) == []
            if "wait" in refused:
                with pytest.raises(BackendUnavailableError):  # BLPOP's reply comes first
                    await asyncio.wait_for(_idle_wait(store, 0.5), 5)
            else:
                assert await asyncio.wait_for(_idle_wait(store, 0.3), 5) == []
            if "read" in refused:
                with pytest.raises(BackendUnavailableError, match=code):
                    await store.get(kept)
            else:
                assert await store.get(kept) is None  # the refused enqueue stored nothing
            _serving(client)

        assert await asyncio.to_thread(store.enqueue_here, [job_record(kept, "q")])
        assert [r.id for r in await store.claim(["q"], 5, WORKER, 30.0)] == [kept]
        worker = asyncio.create_task(_work(store))
        await asyncio.sleep(0.1)
        later = unique_name("job")
        await store.enqueue([job_record(later, "q")])
        assert [r.id for r in await asyncio.wait_for(worker, 5)] == [later]
    finally:
        await store.close()


async def test_a_server_busy_with_a_long_script_is_an_outage(server: PrivateRedis) -> None:
    store = await _store(server)
    try:
        with server.client() as client:
            client.config_set("busy-reply-threshold", "50")  # ms before others hear BUSY
            spinning = threading.Thread(
                target=_spin, args=(server,), name="a script that runs until killed"
            )
            spinning.start()
            try:
                await asyncio.sleep(0.3)
                with pytest.raises(BackendUnavailableError, match="BUSY"):
                    await store.enqueue([job_record(unique_name("job"), "q")])
                with pytest.raises(BackendUnavailableError, match="BUSY"):
                    await asyncio.to_thread(store.enqueue_here, [job_record(unique_name("j"), "q")])
                with pytest.raises(BackendUnavailableError, match="BUSY"):
                    await asyncio.wait_for(_idle_wait(store, 0.5), 5)
            finally:
                client.script_kill()
                spinning.join(10)
        job_id = unique_name("job")
        await store.enqueue([job_record(job_id, "q")])
        assert [r.id for r in await store.claim(["q"], 5, WORKER, 30.0)] == [job_id]
    finally:
        await store.close()


def _spin(server: PrivateRedis) -> None:
    with server.client() as client, pytest.raises(redis.ResponseError, match="killed"):
        client.eval("while true do end", 0)


async def test_a_plain_error_reply_is_not_an_outage(server: PrivateRedis) -> None:
    store = await _store(server)
    try:
        job_id = unique_name("job")
        with server.client() as client:
            client.set(store.keys.job(job_id), "not a hash")
        with pytest.raises(redis.ResponseError, match="WRONGTYPE") as caught:
            await store.get(job_id)
        assert not isinstance(caught.value, BackendUnavailableError)
    finally:
        await store.close()
