"""What only the Redis store does: key slots, URLs, errors, events across stores, clock."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import redis
import redis.asyncio
from redis.crc import key_slot

from conveyor import create_queue
from conveyor.clock import FrozenClock, ServerClock
from conveyor.errors import BackendUnavailableError, ConfigurationError
from conveyor.job import JobStatus
from conveyor.stores import Outcome, store_from_url
from conveyor.stores.channel import StoreEvent, decode_events
from conveyor.stores.records import ScheduleRecord
from conveyor.stores.redis import RedisStore
from conveyor.stores.redis._keys import Keys
from servers import REDIS, namespace_on
from testkit import eventually, job_record, unique_name


@pytest.fixture
def url() -> Iterator[str]:
    with namespace_on(REDIS) as url:
        yield url


@pytest.fixture
async def store(url: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(url)
    yield store
    await store.close()


def server_keys(url: str) -> list[bytes]:
    prefix = url.rsplit("prefix=", 1)[1]
    client = redis.Redis.from_url(url.split("?")[0])
    try:
        return list(client.scan_iter(match=f"*{prefix}*", count=1000))
    finally:
        client.close()


# -- keys --------------------------------------------------------------------------------


def test_every_key_pattern_hashes_to_one_slot() -> None:
    keys = Keys("conveyor")
    names = [
        keys.tag, keys.events, keys.wake("origin"), keys.job("01JOB"), keys.ready("emails"),
        keys.delayed("emails"), keys.status("reports:daily", "pending"), keys.leases,
        keys.schedules("emails"),
    ]  # fmt: skip
    assert len({key_slot(name.encode()) for name in names}) == 1


async def test_every_key_the_scripts_write_is_under_the_hash_tag(
    store: RedisStore, url: str
) -> None:
    queue = unique_name()
    await store.enqueue([job_record("a", queue), job_record("b", queue, priority=3)])
    await store.enqueue([job_record("c", queue, status=JobStatus.SCHEDULED, run_at=time.time())])
    claimed = await store.claim([queue, "other"], 3, "w", 0.01)
    assert [r.id for r in claimed] == ["b", "a", "c"]
    await store.settle([Outcome("b", "w", 1, JobStatus.SCHEDULED, error="E", retry_delay=60)])
    await store.set_progress("a", "w", 50.0, "half")
    await asyncio.sleep(0.02)
    assert await store.recover_expired() == ["a", "c"]
    assert await store.cancel("a") is JobStatus.CANCELLED
    assert await store.retry("a") is True
    tick = ScheduleRecord(queue, "nightly", "{}", 1000, 2000, time.time())
    await store.save_schedules([tick])
    assert await store.fire_schedule(queue, "nightly", 1000, 2000, None, [job_record("d", queue)])
    assert await store.pause_schedule(queue, "nightly", True, 3000)
    found = server_keys(url)
    assert len(found) >= 7
    assert f"{store.keys.tag}:schedules:{queue}".encode() in found
    tag = store.keys.tag.encode()
    assert all(key.startswith(tag + b":") for key in found)
    assert len({key_slot(key) for key in found}) == 1


# -- URLs and errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ("redis://localhost:6379/0?prefix=x&colour=red", "colour"),
        ("redis://localhost:6379/0?durability=normal", "durability"),
        ("redis://localhost:6379/zero", "database"),
        ("redis://localhost:6379/0?prefix=", "prefix"),
        ("redis://localhost:6379/0?prefix=a{b}", "prefix"),
    ],
)
def test_bad_url_options_are_configuration_errors(bad: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        store_from_url(bad)


def test_the_password_is_masked_in_configuration_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisStore("redis://user:s3cret@localhost:6379/0?nope=1")
    assert "s3cret" not in str(caught.value)
    assert "user:***@localhost" in str(caught.value)


async def test_an_unreachable_server_is_backend_unavailable_naming_the_masked_url() -> None:
    store = RedisStore("redis://:s3cret@127.0.0.1:1/0?prefix=nowhere")
    assert store.url == "redis://:***@127.0.0.1:1/0?prefix=nowhere"
    began = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        await store.open()
    assert time.monotonic() - began < 10
    assert "redis://:***@127.0.0.1:1/0" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    with pytest.raises(BackendUnavailableError):
        await store.get("any")  # every operation, not only open()
    await store.close()


def test_enqueue_through_an_application_connection_is_refused(url: str) -> None:
    store = RedisStore(url)
    with pytest.raises(ConfigurationError, match="transactional"):
        asyncio.run(store.enqueue([], connection=object()))


# -- scripts -----------------------------------------------------------------------------


async def test_operations_work_after_the_server_forgot_the_scripts(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record("a", queue)])
    client = redis.asyncio.Redis.from_url(REDIS)
    try:
        await client.script_flush()
    finally:
        await client.aclose()
    await store.enqueue([job_record("b", queue)])
    assert [r.id for r in await store.claim([queue], 5, "w", 60.0)] == ["a", "b"]


async def test_payload_bytes_and_every_field_round_trip(store: RedisStore) -> None:
    queue = unique_name()
    original = job_record(
        "x", queue, status=JobStatus.SCHEDULED, run_at=1_700_000_000.1234567, backoff='{"k":1}',
        scheduled_at=1_700_000_000.1234567, timeout=None, payload=b"\n\x00\xff{}",
        error="last\nerror", attempts=2, progress=12.5, progress_message="héllo",
    )  # fmt: skip
    await store.enqueue([original])
    assert await store.get("x") == original


async def test_schedule_states_round_trip_through_the_scripts_json(store: RedisStore) -> None:
    # The scripts decode and re-encode a schedule's state with cjson on every change.
    queues = [unique_name(), unique_name()]
    spec = '{"name": "résumé ☃", "tz": "Europe/Paris", "text": "\\n\\"/"}\x00'
    given = [
        ScheduleRecord(queues[1], "b:1", "é☃\x00", 2**52, None, 1_700_000_000.1234567),
        ScheduleRecord(queues[0], "a", spec, 1000, 2000, 0.1 + 0.2),
    ]
    assert await store.save_schedules(given) == given  # in the order given, across queues
    assert await store.fire_schedule(queues[0], "a", 1000, 2000, 3000, [])
    assert await store.pause_schedule(queues[1], "b:1", True, 0)
    assert await store.list_schedules(queues[0]) == [
        dataclasses.replace(given[1], last_tick=2000, next_tick=3000)
    ]
    assert await store.list_schedules(queues[1]) == [dataclasses.replace(given[0], paused=True)]


async def test_settle_applies_each_outcome_of_a_batch_on_its_own(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record(i, queue) for i in "abc"])
    await store.claim([queue], 3, "w", 60.0)
    outcomes = [
        Outcome("a", "w", 1, JobStatus.COMPLETED, result=b"1"),
        Outcome("b", "someone-else", 1, JobStatus.COMPLETED),
        Outcome("c", "w", 1, JobStatus.PENDING),
    ]
    assert await store.settle(outcomes) == [True, False, True]
    statuses = [(await store.get(i)) for i in "abc"]
    assert [(r.status, r.attempts) for r in statuses if r] == [
        (JobStatus.COMPLETED, 1), (JobStatus.PROCESSING, 1), (JobStatus.PENDING, 0),
    ]  # fmt: skip


async def test_a_claim_returns_the_job_as_the_claim_left_it(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record("a", queue)])
    [first] = await store.claim([queue], 1, "w1", 60.0)
    assert await store.set_progress("a", "w1", 40.0, "halfway")
    assert await store.cancel("a") is JobStatus.PROCESSING  # flags the running job
    await store.settle([Outcome("a", "w1", 1, JobStatus.PENDING)])  # put back unfinished
    [again] = await store.claim([queue], 1, "w2", 60.0)
    stored = await store.get("a")
    assert stored is not None
    assert again == stored
    assert (again.attempts, again.worker_id, again.status) == (1, "w2", JobStatus.PROCESSING)
    assert (again.progress, again.progress_message, again.cancel_requested) == (None, None, False)
    assert again.started_at is not None
    assert again.lease_expires_at is not None
    assert first.payload == again.payload == b"\x00\xffraw"


@pytest.mark.parametrize("batch", [1, 3], ids=["one", "many"])
async def test_an_enqueue_sent_again_changes_nothing(store: RedisStore, batch: int) -> None:
    # The store sends a command again on a fresh connection when the first one broke,
    # and the first may have run: by the replay a worker may hold the job.
    records = [job_record(unique_name("job"), "q") for _ in range(batch)]
    await store.enqueue(records)
    claimed = await store.claim(["q"], 1, "worker-1", 30.0)
    await store.enqueue(records)
    assert (await store.get(claimed[0].id)).status is JobStatus.PROCESSING  # type: ignore[union-attr]
    stats = await store.stats("q")
    assert (stats.pending, stats.processing) == (batch - 1, 1)
    rest = await store.claim(["q"], 5, "worker-1", 30.0)
    assert sorted(r.id for r in rest) == sorted(r.id for r in records if r.id != claimed[0].id)


def count_settle_sends(store: RedisStore) -> list[int]:
    """Note the size of each batch of outcomes the store sends on its own, in the list."""
    sent: list[int] = []
    send = store._settle_now

    async def counting(outcomes: list[Outcome]) -> list[bool]:
        sent.append(len(outcomes))
        return await send(outcomes)

    store._settle_now = counting  # type: ignore[method-assign]
    return sent


async def test_concurrent_settles_of_one_loop_share_a_round_trip(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record(f"j{i}", queue) for i in range(20)])
    claimed = await store.claim([queue], 20, "w", 60.0)
    store._settlers.take_all()
    sent = count_settle_sends(store)
    results = await asyncio.gather(
        *(store.settle([Outcome(r.id, "w", 1, JobStatus.COMPLETED)]) for r in claimed)
    )
    assert results == [[True]] * 20
    assert sum(sent) == 20
    assert len(sent) < 20


async def test_a_claim_carries_the_settles_waiting_to_be_sent(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record(f"j{i}", queue) for i in range(6)])
    first = await store.claim([queue], 3, "w", 60.0)
    alone = count_settle_sends(store)
    settles = [
        asyncio.ensure_future(store.settle([Outcome(r.id, "w", 1, JobStatus.COMPLETED)]))
        for r in first
    ]
    await asyncio.sleep(0)  # the settles wait in the coalescer, not sent yet
    second = await store.claim([queue], 3, "w", 60.0)
    assert [await settle for settle in settles] == [[True]] * 3
    assert alone == []  # no send of their own: they went in front of the claim
    assert sorted(r.id for r in second) == ["j3", "j4", "j5"]
    for record in first:
        job = await store.get(record.id)
        assert job is not None
        assert job.status is JobStatus.COMPLETED


async def test_a_claim_with_settles_works_after_the_server_forgot_the_scripts(
    store: RedisStore, url: str
) -> None:
    queue = unique_name()
    await store.enqueue([job_record(f"j{i}", queue) for i in range(2)])
    [first] = await store.claim([queue], 1, "w", 60.0)
    client = redis.Redis.from_url(url.split("?")[0])
    try:
        client.script_flush()
    finally:
        client.close()
    settle = asyncio.ensure_future(store.settle([Outcome(first.id, "w", 1, JobStatus.COMPLETED)]))
    await asyncio.sleep(0)
    [second] = await store.claim([queue], 1, "w", 60.0)
    assert await settle == [True]
    assert second.id == "j1"
    job = await store.get(first.id)
    assert job is not None
    assert job.status is JobStatus.COMPLETED


async def test_a_claim_that_fails_fails_the_settles_it_carried(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record("j0", queue)])
    [first] = await store.claim([queue], 1, "w", 60.0)
    settle = asyncio.ensure_future(store.settle([Outcome(first.id, "w", 1, JobStatus.COMPLETED)]))
    await asyncio.sleep(0)
    await store._clients.get().aclose()
    store._clients.get()._make = _refused  # type: ignore[method-assign]
    with pytest.raises(BackendUnavailableError):
        await store.claim([queue], 1, "w", 60.0)
    with pytest.raises(BackendUnavailableError):
        await settle


def _refused() -> redis.asyncio.Connection:
    return redis.asyncio.Connection(host="127.0.0.1", port=1, socket_connect_timeout=1)


# -- events and clock --------------------------------------------------------------------


async def test_events_reach_other_store_objects_but_not_their_origin(url: str) -> None:
    producer, watcher = RedisStore(url), RedisStore(url)
    seen_by_producer: list[StoreEvent] = []
    seen: list[StoreEvent] = []
    producer.remote_events.subscribe(seen_by_producer.append)
    watcher.remote_events.subscribe(seen.append)
    try:
        await producer.open()
        await watcher.open()
        queue = unique_name()
        generation = watcher.changes.generation
        await producer.enqueue([job_record("a", queue), job_record("b", queue)])
        await eventually(lambda: len(seen) == 2, "the job:added events")
        assert seen == [StoreEvent("job:added", "a", queue), StoreEvent("job:added", "b", queue)]
        assert watcher.changes.generation > generation
        await producer.claim([queue], 1, "w", 60.0)
        await producer.settle([Outcome("a", "w", 1, JobStatus.COMPLETED)])
        await eventually(lambda: len(seen) == 4, "the started and completed events")
        assert [e.event for e in seen[2:]] == ["job:started", "job:completed"]
        assert seen_by_producer == []
    finally:
        await producer.close()
        await watcher.close()


@pytest.mark.parametrize("batch", [1, 3], ids=["enqueue", "enqueue_many"])
async def test_a_ready_jobs_addition_goes_out_quietly_a_delayed_ones_loudly(
    store: RedisStore, batch: int
) -> None:
    # Idle workers follow :changes; a job ready at once rings its bell, which wakes them.
    client = redis.asyncio.Redis.from_url(store.url.split("?")[0])
    pubsub = client.pubsub()
    await pubsub.subscribe(store.keys.changes, store.keys.events)
    try:
        for _ in range(2):  # both subscriptions confirmed
            assert (await pubsub.get_message(timeout=2.0) or {}).get("type") == "subscribe"
        queue, later = unique_name(), time.time() + 3600
        await store.enqueue([job_record(unique_name("ready"), queue) for _ in range(batch)])
        await store.enqueue(
            [job_record(unique_name("later"), queue, status=JobStatus.SCHEDULED, run_at=later)
             for _ in range(batch)]
        )  # fmt: skip
        channels: dict[str, str] = {}
        while len(channels) < 2 * batch:
            message = await pubsub.get_message(timeout=2.0)
            assert message is not None, channels
            _, events = decode_events(message["data"])
            channels.update({e.job_id: message["channel"].decode() for e in events})
        assert {channel for job_id, channel in channels.items() if "ready" in job_id} == {
            store.keys.events
        }
        assert {channel for job_id, channel in channels.items() if "later" in job_id} == {
            store.keys.changes
        }
    finally:
        await pubsub.aclose()
        await client.aclose()


async def test_a_queue_on_redis_waits_for_a_job_finished_elsewhere(url: str) -> None:
    name = unique_name()
    worker, producer = create_queue(url=url, name=name), create_queue(url=url, name=name)
    worker.register("double", lambda job: job.payload * 2)
    try:
        await worker.start()
        job = await producer.wait(await producer.enqueue("double", 21), timeout=5)
        assert job.result == 42
    finally:
        await worker.close()
        await producer.close()


async def test_the_server_clock_is_calibrated_on_open(store: RedisStore) -> None:
    assert isinstance(store.clock, ServerClock)
    store.clock.offset = 1000.0
    await store.open()
    assert abs(store.clock.offset) < 1.0  # this machine is the server: no real skew
    assert abs(store.clock.now() - time.time()) < 1.0


async def test_a_clock_passed_in_is_used_as_it_is(url: str) -> None:
    clock = FrozenClock(1_000.0)
    store = RedisStore(url, clock)
    try:
        await store.open()
        assert store.clock is clock
        assert clock.now() == 1_000.0
    finally:
        await store.close()


async def test_close_then_open_again_works(store: RedisStore) -> None:
    queue = unique_name()
    await store.enqueue([job_record("a", queue)])
    await store.close()
    await store.close()
    assert (await store.get("a")) is not None  # opens again by itself
    await store.open()
    assert (await store.stats(queue)).pending == 1


def unique_keys_held(url: str, queue: str) -> dict[bytes, bytes]:
    found = [k for k in server_keys(url) if k.endswith(f":keys:{queue}".encode())]
    if not found:  # Redis drops a hash with no fields left
        return {}
    client = redis.Redis.from_url(url.split("?")[0])
    try:
        return client.hgetall(found[0])  # type: ignore[return-value]
    finally:
        client.close()


async def test_deleting_jobs_deletes_the_unique_keys_they_hold(url: str) -> None:
    # Before, the keys hash kept a field for every distinct key ever used.
    queue = create_queue(url=url, name=unique_name("keys"))
    try:
        done = await queue.enqueue("job", {}, key="done")
        gone = await queue.enqueue("job", {}, key="gone")
        kept = await queue.enqueue("job", {}, key="kept")
        await queue.cancel(done)
        await queue.cancel(gone)
        assert set(unique_keys_held(url, queue.name)) == {b"done", b"gone", b"kept"}
        taken_again = await queue.enqueue("job", {}, key="done")  # the cancelled job's key
        assert await queue.delete_jobs(status="cancelled") == 2
        assert unique_keys_held(url, queue.name) == {
            b"done": taken_again.encode(),
            b"kept": kept.encode(),
        }
        assert gone not in {v.decode() for v in unique_keys_held(url, queue.name).values()}
    finally:
        await queue.close()


async def test_clearing_completed_jobs_deletes_their_unique_keys(url: str) -> None:
    queue = create_queue(url=url, name=unique_name("keys"))

    @queue.handler("job")
    async def job(job: object) -> None:
        pass

    try:
        await queue.start()
        ran = await queue.enqueue("job", {}, key="ran")
        assert (await queue.wait(ran, timeout=10)).status is JobStatus.COMPLETED
        assert set(unique_keys_held(url, queue.name)) == {b"ran"}
        assert await queue.clear_completed() == 1
        assert unique_keys_held(url, queue.name) == {}
    finally:
        await queue.stop()
