"""The Redis store on a Redis Cluster of three primaries (the conformance suite runs there
too, as ``[redis-cluster]``): where the keys live, and following a slot that moves."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from redis.crc import key_slot

from conveyor import create_queue
from conveyor.errors import BackendUnavailableError, ConfigurationError
from conveyor.stores import store_from_url
from conveyor.stores.redis import RedisStore
from servers import RedisCluster, namespace_on
from testkit import portal_busy, unique_name


@pytest.fixture
def url(redis_cluster: RedisCluster) -> Iterator[str]:
    with namespace_on(redis_cluster.url) as url:
        yield url


def prefix_of(url: str) -> str:
    return url.rsplit("prefix=", 1)[1]


def slot_move(cluster: RedisCluster, url: str) -> tuple[str, int, int, int]:
    """The store's prefix, its slot, the node that serves it and another node to move it to."""
    prefix = prefix_of(url)
    slot = key_slot(f"{{{prefix}}}".encode())
    source = owner_port(cluster, slot)
    return prefix, slot, source, next(port for port in cluster.ports if port != source)


def owner_port(cluster: RedisCluster, slot: int) -> int:
    """The port of the primary that serves ``slot``, as the cluster says."""
    with cluster.client(cluster.ports[0]) as client:
        for start, end, primary, *_replicas in client.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
    raise AssertionError(f"no node serves slot {slot}")


def keys_per_node(cluster: RedisCluster, prefix: str) -> dict[int, int]:
    counts = {}
    for port in cluster.ports:
        with cluster.client(port) as client:
            counts[port] = len(list(client.scan_iter(match=f"{{{prefix}}}*", count=1000)))
    return counts


def node_id(cluster: RedisCluster, port: int) -> str:
    with cluster.client(port) as client:
        return str(client.execute_command("CLUSTER MYID").decode())


def move_empty_slot(cluster: RedisCluster, slot: int, source: int, target: int) -> None:
    """Give an empty slot to ``target``: tell every node its new owner (target first)."""
    target_id = node_id(cluster, target)
    others = [port for port in cluster.ports if port not in (source, target)]
    for port in [target, source, *others]:
        with cluster.client(port) as client:
            client.execute_command("CLUSTER SETSLOT", slot, "NODE", target_id)
    assert owner_port(cluster, slot) == target


async def test_jobs_run_through_any_seed_node_and_live_on_the_slots_primary(
    redis_cluster: RedisCluster, url: str
) -> None:
    prefix = prefix_of(url)
    owner = owner_port(redis_cluster, key_slot(f"{{{prefix}}}".encode()))
    name = unique_name()
    for seed in redis_cluster.ports:  # the URL may name any node, owner or not
        seeded = url.replace(f":{redis_cluster.ports[0]}/", f":{seed}/")
        queue = create_queue(url=seeded, name=name, workers=4)
        queue.register("double", lambda job: job.payload * 2)
        try:
            await queue.start()
            ids = await queue.enqueue_many(("double", n) for n in range(50))
            finished = [await queue.wait(job_id, timeout=10) for job_id in ids]
            assert [job.result for job in finished] == [n * 2 for n in range(50)]
        finally:
            await queue.close()
    counts = keys_per_node(redis_cluster, prefix)
    assert counts[owner] >= 150, counts
    assert sum(counts.values()) == counts[owner], f"keys outside the slot's node: {counts}"


async def test_the_store_follows_its_slot_to_another_node(
    redis_cluster: RedisCluster, url: str
) -> None:
    prefix, slot, source, target = slot_move(redis_cluster, url)
    name = unique_name()
    worker, producer = create_queue(url=url, name=name), create_queue(url=url, name=name)
    worker.register("echo", lambda job: job.payload)
    try:
        await producer.get_stats()  # open, located at the source; no key written yet
        move_empty_slot(redis_cluster, slot, source, target)
        started = time.monotonic()
        job_id = await producer.enqueue("echo", "moved")  # MOVED: the producer follows
        await worker.start()  # (a worker's beat writes keys: it starts after the move)
        job = await producer.wait(job_id, timeout=10)
        assert job.result == "moved"
        assert time.monotonic() - started < 5
    finally:
        await worker.close()
        await producer.close()
    counts = keys_per_node(redis_cluster, prefix)
    assert counts[source] == 0, counts
    assert counts[target] > 0, counts


def test_a_calling_threads_enqueue_follows_its_slot_to_another_node(
    redis_cluster: RedisCluster, url: str
) -> None:
    prefix, slot, source, target = slot_move(redis_cluster, url)
    producer = create_queue(url=url, name=unique_name())
    try:
        producer.sync.get_stats()  # open, located at the source; no key written yet
        assert producer.store.writes_here
        move_empty_slot(redis_cluster, slot, source, target)
        moved = producer.sync.enqueue("echo", 1)  # MOVED here: the portal's path follows
        with portal_busy(producer):  # on this thread again, now at the target
            ids = [moved, producer.sync.enqueue("echo", 2)]
        assert [job.payload for i in ids if (job := producer.sync.get_job(i))] == [1, 2]
    finally:
        producer.sync.close()
    counts = keys_per_node(redis_cluster, prefix)
    assert counts[source] == 0, counts
    assert counts[target] > 0, counts


def test_a_cluster_has_only_database_zero() -> None:
    with pytest.raises(ConfigurationError, match="only database 0"):
        store_from_url("redis://127.0.0.1:7000/3?cluster=true")
    with pytest.raises(ConfigurationError, match="cluster must be true or false"):
        store_from_url("redis://127.0.0.1:7000/0?cluster=maybe")


async def test_an_unreachable_cluster_is_backend_unavailable_with_the_password_masked() -> None:
    store = RedisStore("redis://:s3cret@127.0.0.1:1/0?cluster=true&prefix=nowhere")
    with pytest.raises(BackendUnavailableError) as caught:
        await store.open()
    assert "redis://:***@127.0.0.1:1/0" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    await store.close()
