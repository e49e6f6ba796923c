"""What only the PostgreSQL store does: migrations, transactional enqueue, NOTIFY, plans."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("psycopg")

import psycopg

from conveyor import JobStatus, create_queue
from conveyor.cli.main import cli
from conveyor.definitions.options import Options, build_record
from conveyor.errors import (
    BackendUnavailableError,
    ConfigurationError,
    IncompatibleStoreError,
    SchemaVersionError,
)
from conveyor.stores import JobRecord, Outcome
from conveyor.stores.channel import StoreEvent
from conveyor.stores.postgres import PostgresStore, migrate
from conveyor.stores.postgres import queries as q
from conveyor.stores.postgres._codec import MAX_MESSAGE
from servers import POSTGRES, namespace_on
from testkit import eventually, unique_name


@pytest.fixture
def url() -> Iterator[str]:
    """A PostgreSQL URL with a schema of its own, dropped afterwards."""
    with namespace_on(POSTGRES) as url:
        yield url


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    store = PostgresStore(url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


def schema_of(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def admin(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(POSTGRES, autocommit=True) as conn:
        cursor = conn.execute(sql.encode(), params or None)
        return cursor.fetchall() if cursor.description else []


def new_record(queue: str, payload: bytes = b"null", **fields: Any) -> JobRecord:
    now = time.time()
    record = build_record(name="job", queue=queue, payload=payload, options=Options(),
                          defaults=Options(), run_at=now, scheduled_at=None, now=now)  # fmt: skip
    for key, value in fields.items():
        setattr(record, key, value)
    return record


# -- migrations ------------------------------------------------------------------------


async def test_open_creates_everything_in_the_urls_schema(store: PostgresStore, url: str) -> None:
    schema = schema_of(url)
    tables = admin("SELECT tablename FROM pg_tables WHERE schemaname = %s ORDER BY 1", schema)
    assert tables == [
        ("job_count_changes",), ("job_counts",), ("jobs",), ("migrations",), ("rates",),
        ("schedules",), ("slots",), ("workers",),
    ]  # fmt: skip
    assert admin(f'SELECT version, name FROM "{schema}".migrations') == [
        (1, "jobs"),
        (2, "schedules"),
        (3, "workers"),
        (4, "counts"),
        (5, "headers"),
        (6, "unique_keys"),
        (7, "slots"),
        (8, "rates"),
        (9, "ready_index"),
        (10, "publish"),
    ]
    functions = admin(
        "SELECT proname FROM pg_proc WHERE pronamespace = %s::regnamespace", f'"{schema}"'
    )
    assert functions == [("publish",)]


async def test_migrate_is_idempotent(url: str) -> None:
    first = await asyncio.to_thread(migrate, url)
    assert [(m.version, m.name) for m in first] == [
        (1, "jobs"), (2, "schedules"), (3, "workers"), (4, "counts"), (5, "headers"),
        (6, "unique_keys"), (7, "slots"), (8, "rates"), (9, "ready_index"),
        (10, "publish"),
    ]  # fmt: skip
    assert await asyncio.to_thread(migrate, url) == []
    store = PostgresStore(url)
    await store.open()
    await store.close()
    assert admin(f'SELECT count(*) FROM "{schema_of(url)}".migrations') == [(10,)]


def test_concurrent_openers_migrate_once(url: str) -> None:
    results: list[object] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        barrier.wait()
        try:
            results.append(len(migrate(url)))
        except Exception as exc:
            results.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [0, 0, 0, 0, 0, 10]  # type: ignore[type-var]


async def test_a_newer_schema_is_refused(url: str) -> None:
    await asyncio.to_thread(migrate, url)
    admin(f"INSERT INTO \"{schema_of(url)}\".migrations VALUES (999, 'future')")
    store = PostgresStore(url)
    with pytest.raises(SchemaVersionError, match="999"):
        await store.open()
    with pytest.raises(SchemaVersionError):
        await asyncio.to_thread(migrate, url)
    await store.close()


async def test_migrate_false_refuses_an_old_schema_until_migrated(url: str) -> None:
    store = PostgresStore(url + "&migrate=false")
    with pytest.raises(IncompatibleStoreError, match="conveyor migrate"):
        await store.open()
    assert admin("SELECT 1 FROM pg_namespace WHERE nspname = %s", schema_of(url)) == []
    await asyncio.to_thread(migrate, url)
    await store.open()
    assert await store.stats("q") == await store.stats("q")
    await store.close()


def test_the_migrate_command(url: str) -> None:
    with_password = url.replace("postgres@", "postgres:s3cret@")
    runner = CliRunner()
    first = runner.invoke(cli, ["migrate", with_password])
    assert first.exit_code == 0, first.output
    assert "applied 0001_jobs" in first.output
    assert "s3cret" not in first.output
    assert "postgres:***@" in first.output
    again = runner.invoke(cli, ["migrate", with_password])
    assert again.exit_code == 0, again.output
    assert "nothing to apply" in again.output
    unreachable = runner.invoke(cli, ["migrate", "postgresql://u:s3cret@127.0.0.1:1/x"])
    assert unreachable.exit_code == 1
    assert "u:***@127.0.0.1:1" in unreachable.output
    assert "s3cret" not in unreachable.output


# -- connecting --------------------------------------------------------------------------


async def test_an_unreachable_server_is_a_clear_error_quickly() -> None:
    store = PostgresStore("postgresql://app:s3cret@127.0.0.1:1/jobs")
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as caught:
        await store.enqueue([new_record("q")])
    assert time.monotonic() - started < 6
    assert "postgresql://app:***@127.0.0.1:1/jobs" in str(caught.value)
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in store.url
    await store.close()


@pytest.mark.parametrize("options", ["pool_size=0", "migrate=perhaps", "schema=" + "x" * 60])
def test_bad_url_options_are_refused(options: str) -> None:
    with pytest.raises(ConfigurationError):
        PostgresStore(f"postgresql://app:s3cret@db/jobs?{options}")


async def test_close_then_open_again(store: PostgresStore) -> None:
    await store.enqueue([new_record("q")])
    await store.close()
    await store.open()
    assert (await store.stats("q")).pending == 1
    await store.close()
    assert (await store.stats("q")).pending == 1  # any call opens again


async def test_the_clock_is_the_servers(store: PostgresStore) -> None:
    [(server_now,)] = admin("SELECT extract(epoch FROM clock_timestamp())::float8")
    assert abs(store.clock.now() - server_now) < 0.05


# -- transactional enqueue ---------------------------------------------------------------


@pytest.fixture
async def worker_queue(url: str) -> AsyncIterator[Any]:
    queue = create_queue(workers=2, url=url, name=unique_name())
    queue.register("job", lambda job: job.payload)
    await queue.start()
    try:
        yield queue
    finally:
        await queue.close()


async def test_a_job_enqueued_in_an_async_transaction_exists_once_it_commits(
    worker_queue: Any,
) -> None:
    store = worker_queue.store
    async with await psycopg.AsyncConnection.connect(POSTGRES) as conn:
        record = new_record(worker_queue.name, b'"committed"')
        await store.enqueue([record], connection=conn)
        assert await store.get(record.id) is None  # not before the commit
        await asyncio.sleep(0.05)
        assert await store.get(record.id) is None
        started = time.monotonic()
        await conn.commit()
    job = await worker_queue.wait(record.id, timeout=5)
    assert (job.status, job.result) == (JobStatus.COMPLETED, "committed")
    assert time.monotonic() - started < 0.5  # woken by the commit's NOTIFY, not a poll


async def test_a_job_enqueued_in_a_rolled_back_async_transaction_never_exists(
    worker_queue: Any,
) -> None:
    store = worker_queue.store
    async with await psycopg.AsyncConnection.connect(POSTGRES) as conn:
        record = new_record(worker_queue.name)
        await store.enqueue([record], connection=conn)
        await conn.rollback()
    assert await store.get(record.id) is None


async def test_a_blocking_connection_enqueues_inside_its_transaction(worker_queue: Any) -> None:
    store = worker_queue.store
    with psycopg.connect(POSTGRES) as conn:
        kept, dropped = new_record(worker_queue.name, b"1"), new_record(worker_queue.name)
        await store.enqueue([dropped], connection=conn)
        conn.rollback()
        await store.enqueue([kept], connection=conn)
        conn.commit()
    job = await worker_queue.wait(kept.id, timeout=5)
    assert (job.status, job.result) == (JobStatus.COMPLETED, 1)
    assert await store.get(dropped.id) is None


async def test_the_facade_announces_a_transactional_job_only_once_committed(url: str) -> None:
    queue = create_queue(url=url)
    added: list[str] = []
    queue.on("job:added", lambda job: added.append(job.id))
    try:
        async with await psycopg.AsyncConnection.connect(POSTGRES) as conn:
            kept = await queue.enqueue("anything", {"n": 1}, connection=conn)
            [dropped] = await queue.enqueue_many([("anything", {"n": 2})], connection=conn)
            await asyncio.sleep(0.1)
            assert added == []  # nothing exists yet
            await conn.commit()
            await eventually(lambda: kept in added, "job:added after the commit")
            rolled_back = await queue.enqueue("anything", None, connection=conn)
            await conn.rollback()
        assert (await queue.get_job(rolled_back)) is None
        assert (await queue.get_job(kept)) is not None
        await eventually(lambda: dropped in added, "job:added of the batch")
        assert sorted(added) == sorted([kept, dropped])
    finally:
        await queue.close()


async def test_enqueue_refuses_other_connections(store: PostgresStore) -> None:
    with pytest.raises(ConfigurationError, match=r"builtins\.object"):
        await store.enqueue([new_record("q")], connection=object())


# -- events ------------------------------------------------------------------------------


async def test_events_reach_other_store_objects_but_not_their_own(url: str) -> None:
    watcher, actor = PostgresStore(url), PostgresStore(url)
    seen: list[StoreEvent] = []
    echoed: list[StoreEvent] = []
    watcher.remote_events.subscribe(seen.append)
    actor.remote_events.subscribe(echoed.append)
    await watcher.open()
    try:
        record = new_record("q")
        await actor.enqueue([record])
        [claimed] = await actor.claim(["q"], 1, "w", 30.0)
        await actor.set_progress(record.id, "w", 50.0, None)
        await actor.settle([Outcome(record.id, "w", claimed.attempts, JobStatus.COMPLETED)])
        expected = ["job:added", "job:started", "job:progress", "job:completed"]
        await eventually(lambda: len(seen) == 4, "four events at the watcher")
        assert [e.event for e in seen] == expected
        assert {(e.job_id, e.queue) for e in seen} == {(record.id, "q")}
        await asyncio.sleep(0.1)
        assert echoed == []  # the actor's listener drops its own events
    finally:
        await watcher.close()
        await actor.close()


async def test_big_batches_are_split_into_notifications_that_fit(url: str) -> None:
    queue = "q" * 200  # long names: ~300 bytes an event
    listener = await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True)
    await listener.execute(f'LISTEN "{schema_of(url)}_events"'.encode())
    store = PostgresStore(url)
    try:
        records = [new_record(queue) for _ in range(300)]
        await store.enqueue(records)  # messages made by the client
        claimed = await store.claim([queue], 300, "w", 30.0)  # made by publish() in SQL
        assert len(claimed) == 300
        payloads: list[str] = []
        async for notify in listener.notifies(timeout=2.0):
            payloads.append(notify.payload)
        batches = [json.loads(p)["e"] for p in payloads]
        for event in ("job:added", "job:started"):
            ids = [job_id for batch in batches for name, job_id, _ in batch if name == event]
            assert sorted(ids) == sorted(r.id for r in records)
            assert sum(1 for b in batches if b[0][0] == event) > 1
        assert max(len(p.encode()) for p in payloads) <= MAX_MESSAGE
    finally:
        await listener.close()
        await store.close()


async def test_published_events_escape_names_and_leave_out_only_what_can_not_fit(
    url: str,
) -> None:
    odd = 'q "quoted" \\ back\nline é'
    huge = "\x01" * 1500  # 1,500 bytes written as 9,000 of JSON (\u0001 each)
    schema = schema_of(url)
    listener = await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True)
    await listener.execute(f'LISTEN "{schema}_events"'.encode())
    store = PostgresStore(url)
    try:
        records = [new_record(odd) for _ in range(3)]
        await store.enqueue(records)
        claimed = await store.claim([odd], 10, "w", 30.0)  # events made by publish()
        assert len(claimed) == 3
        # Queues have at most 200 characters; publish() still skips what can not fit.
        assert admin(
            f'SELECT "{schema}".publish(%s, %s, true, %s, %s, %s)',
            f"{schema}_events", "o", ["job:started"] * 3, ["a", "b", "c"], [odd, huge, odd],
        ) == [(1,)]  # fmt: skip
        started: list[list[str]] = []
        async for notify in listener.notifies(timeout=2.0):
            assert len(notify.payload.encode()) <= MAX_MESSAGE
            started += [e for e in json.loads(notify.payload)["e"] if e[0] == "job:started"]
        assert [job_id for _, job_id, _ in started][-2:] == ["a", "c"]
        assert sorted(job_id for _, job_id, _ in started[:-2]) == sorted(r.id for r in records)
        assert {queue for _, _, queue in started} == {odd}
    finally:
        await listener.close()
        await store.close()


# -- query plans ---------------------------------------------------------------------------

PLAN_PARAMS = {
    "id": "x", "ids": ["x"], "queue": "q", "queues": ["q"], "status": "pending", "limit": 10,
    "offset": 0, "worker": "w", "lease": 30.0, "percent": 1.0, "message": None,
    "channel": "c", "origin": "o", "name": "n", "skip_names": ["s"], "before": 1.0,
    "unique_key": "k",
}  # fmt: skip
STATEMENTS = ["claim", "renew", "settle", "recover_expired", "cancel", "retry", "set_progress",
              "get", "list_jobs", "clear_completed", "next_due", "count_matching",
              "delete_matching", "retry_matching", "cancel_matching", "delete_job",
              "key_holder", "age_jobs"]  # fmt: skip
BULK = {"count_matching", "delete_matching", "retry_matching", "cancel_matching"}


def _nodes(plan: dict[str, Any], *, ctes: bool = True) -> Iterator[dict[str, Any]]:
    """The plan's nodes; with ``ctes`` false, without the CTEs defined under it."""
    yield plan
    for child in plan.get("Plans", []):
        if ctes or child.get("Parent Relationship") != "InitPlan":
            yield from _nodes(child, ctes=ctes)


@pytest.mark.parametrize("name", STATEMENTS)
async def test_statement_reads_the_jobs_table_through_an_index(
    store: PostgresStore, name: str
) -> None:
    settle_params = {"id": ["x"], "worker": ["w"], "attempt": [1], "status": ["completed"],
                     "event": ["job:completed"], "result": [None], "error": [None],
                     "traceback": [None], "delay": [0.0], "postponed": [False]}  # fmt: skip
    params = {**PLAN_PARAMS, **(settle_params if name == "settle" else {})}
    statement = getattr(store._q, name)
    if name == "claim":  # as the store sends it
        statement = q.claim_for(statement, ["q", "r"], 10)
    async with await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True) as conn:
        await conn.execute(b"SET enable_seqscan = off")
        cursor = await conn.execute(b"EXPLAIN (FORMAT JSON) " + statement, params)
        [(explained,)] = await cursor.fetchall()
    nodes = list(_nodes(explained[0]["Plan"]))
    reads = [n for n in nodes if n.get("Relation Name") == "jobs" and "Scan" in n["Node Type"]]
    assert reads, nodes
    # Bulk operations may read through a bitmap of the index; the rest walk it in order.
    allowed = ("Index Scan", "Index Only Scan") + (("Bitmap Heap Scan",) if name in BULK else ())
    assert all(n["Node Type"] in allowed for n in reads), reads
    for sort in (n for n in nodes if n["Node Type"] == "Sort"):
        under = list(_nodes(sort, ctes=False))
        assert not any(n.get("Relation Name") == "jobs" for n in under), f"{name} sorts jobs"


@pytest.mark.parametrize("name", ["claim", "age_jobs"])
async def test_no_other_index_can_serve_what_jobs_ready_serves(
    store: PostgresStore, url: str, name: str
) -> None:
    # Had another index the same key (jobs_status leads with queue), missing or stale
    # statistics could make the server read a whole backlog through it and sort it.
    # Without jobs_ready, no index narrows the search down to the queue's rows.
    await store.enqueue([new_record("q") for _ in range(200)])
    admin(f'DROP INDEX "{schema_of(url)}".jobs_ready')
    statement = getattr(store._q, name)
    if name == "claim":
        statement = q.claim_for(statement, ["q"], 10)
    async with await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True) as conn:
        await conn.execute(b"SET enable_seqscan = off")
        cursor = await conn.execute(b"EXPLAIN (FORMAT JSON) " + statement, PLAN_PARAMS)
        [(explained,)] = await cursor.fetchall()
    nodes = list(_nodes(explained[0]["Plan"]))
    status = [n.get("Index Cond", "") for n in nodes if n.get("Index Name") == "jobs_status"]
    assert not any("queue" in condition for condition in status), status


async def test_the_server_settles_on_one_plan_for_a_workers_claim(store: PostgresStore) -> None:
    # Queues and limit written in: the server stops planning the claim at every call.
    await store.enqueue([new_record("q") for _ in range(12)])
    for _ in range(12):
        assert len(await store.claim(["q"], 1, "w", 30.0)) == 1
    async with store._pools.connection() as conn:
        cursor = await conn.execute(
            b"SELECT generic_plans, custom_plans FROM pg_prepared_statements"
            b" WHERE statement LIKE '%%''job:started''%%'"
            b" AND statement NOT LIKE '%%pg_prepared_statements%%'"  # this very query
        )
        [(generic, custom)] = await cursor.fetchall()
    assert generic > 0
    assert custom <= 5


async def test_small_claims_read_exactly_their_limit_big_ones_share_a_statement(
    store: PostgresStore,
) -> None:
    await store.enqueue([new_record("q") for _ in range(200)])
    for limit in (5, 6):
        assert len(await store.claim(["q"], limit, "w", 30.0)) == limit
    assert len(store._claims) == 2  # each reads (and locks) exactly what it may take
    for limit in (33, 40, 64):
        assert len(await store.claim(["q"], limit, "w", 30.0)) == limit  # reads 64
    assert len(store._claims) == 3


async def test_claims_at_once_leave_no_job_behind(store: PostgresStore) -> None:
    # A row a claim read but did not take would stay locked, and the others skip it.
    records = [new_record("q") for _ in range(40)]
    await store.enqueue(records)
    for _ in range(5):
        batches = await asyncio.gather(*(store.claim(["q"], 15, f"w{n}", 30.0) for n in range(3)))
        claimed = sorted(r.id for batch in batches for r in batch)
        assert claimed == sorted(r.id for r in records)
        await store.settle([Outcome(r.id, r.worker_id or "", r.attempts, JobStatus.PENDING)
                            for batch in batches for r in batch])  # fmt: skip


@pytest.mark.parametrize("queue", ["it's 50%", 'a,b"{c}', "back\\slash", "日本 ", "NULL"])
async def test_a_claim_takes_jobs_of_queues_with_any_name(store: PostgresStore, queue: str) -> None:
    record = new_record(queue)
    await store.enqueue([record, new_record("other")])
    claimed = await store.claim([queue, "none"], 5, "w", 30.0)
    assert [r.id for r in claimed] == [record.id]


SCHEDULE_STATEMENTS = ["list_schedules", "move_schedule", "pause_schedule", "remove_schedules"]


@pytest.mark.parametrize("name", SCHEDULE_STATEMENTS)
async def test_schedule_statements_read_the_schedules_table_through_its_key(
    store: PostgresStore, name: str
) -> None:
    params = {"queue": "q", "key": "k", "keys": ["k"], "expected": 0, "tick": 1,
              "next_tick": 2, "job_id": None, "paused": True, "now_tick": 1}  # fmt: skip
    async with await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True) as conn:
        await conn.execute(b"SET enable_seqscan = off")
        cursor = await conn.execute(b"EXPLAIN (FORMAT JSON) " + getattr(store._q, name), params)
        [(explained,)] = await cursor.fetchall()
    nodes = list(_nodes(explained[0]["Plan"]))
    reads = [n for n in nodes if n.get("Relation Name") == "schedules" and "Scan" in n["Node Type"]]
    assert reads, nodes
    assert all(n["Node Type"] != "Seq Scan" for n in reads), reads


@pytest.mark.parametrize("name", ["stats", "fold_counts"])
async def test_stats_read_the_kept_counts_not_the_jobs(store: PostgresStore, name: str) -> None:
    async with await psycopg.AsyncConnection.connect(POSTGRES, autocommit=True) as conn:
        await conn.execute(b"SET enable_seqscan = off")
        statement = getattr(store._q, name)
        cursor = await conn.execute(
            b"EXPLAIN (FORMAT JSON) " + statement, {"queue": "q", "lock": 1}
        )
        [(explained,)] = await cursor.fetchall()
    relations = {n.get("Relation Name") for n in _nodes(explained[0]["Plan"])} - {None}
    assert "jobs" not in relations
    assert "job_count_changes" in relations


def test_every_statement_is_checked() -> None:
    checked = {*STATEMENTS, *SCHEDULE_STATEMENTS, "enqueue_one", "enqueue_many", "save_schedules"}
    # The workers table holds a row per worker process: a few rows, read whole.
    checked |= {"beat_worker", "list_workers", "forget_worker"}
    checked |= {"stats", "fold_counts"}  # test_stats_read_the_kept_counts_not_the_jobs
    checked |= {"lock_key", "lock_slots"}  # advisory locks: no table
    checked |= {"acquire_slot", "release_slot"}  # the slots table: by its key, a few rows
    checked |= {"take_start"}  # the rates table: one row by its key
    assert checked == set(q.Queries.__slots__)


async def test_a_cancellation_the_pool_swallowed_is_raised_and_the_connection_returned(
    store: PostgresStore,
) -> None:
    """On Python 3.11 the pool's ``asyncio.wait_for`` can lose a cancellation that lands
    in the same turn as the connection; here the pool is made to do just that."""
    loaned = store._pools._pools.get()
    await loaned.give_back()
    pool = loaned.pool
    real_getconn = pool.getconn

    async def getconn_losing_a_cancellation(timeout: float | None = None) -> Any:
        conn = await real_getconn(timeout)
        task = asyncio.current_task()
        assert task is not None
        task.cancel()
        try:
            await asyncio.sleep(0)
        except asyncio.CancelledError:
            return conn  # what asyncio.wait_for does on 3.11 when the result is there too
        raise AssertionError("the cancellation did not arrive")

    pool.getconn = getconn_losing_a_cancellation  # type: ignore[method-assign]
    try:
        with pytest.raises(asyncio.CancelledError):
            await store.beat_worker("w", "{}", 15.0)
    finally:
        del pool.getconn
    assert not loaned.idle
    await eventually(
        lambda: pool.get_stats().get("pool_available", 0) >= 1, "the connection back in the pool"
    )
    await store.beat_worker("w", "{}", 15.0)  # and the store serves on


# -- kept counts -----------------------------------------------------------------------


def _changes_of(url: str) -> int:
    return int(admin(f'SELECT count(*) FROM "{schema_of(url)}".job_count_changes')[0][0])


async def test_stats_fold_the_count_changes_and_folds_race_safely(url: str) -> None:
    stores = [PostgresStore(url) for _ in range(3)]
    try:
        await stores[0].enqueue([new_record("q") for _ in range(10)])
        assert _changes_of(url) == 1  # one statement, one change
        assert (await stores[0].stats("q")).pending == 10
        assert _changes_of(url) == 0

        async def enqueue_some(store: PostgresStore) -> None:
            for _ in range(40):
                await store.enqueue([new_record("q")])

        async def keep_folding(store: PostgresStore) -> None:
            for _ in range(40):
                await store.stats("q")

        await asyncio.gather(
            *(enqueue_some(store) for store in stores), *(keep_folding(s) for s in stores)
        )
        stats = await stores[1].stats("q")
        assert (stats.pending, stats.total) == (130, 130)
        assert admin(f'SELECT n FROM "{schema_of(url)}".job_counts') == [(130,)]
    finally:
        for store in stores:
            await store.close()


async def test_the_counts_migration_counts_the_jobs_already_there(url: str) -> None:
    store = PostgresStore(url)
    try:
        await store.enqueue([new_record("a") for _ in range(3)] + [new_record("b")])
        await store.claim(["a"], 1, "w", 30.0)
        schema = schema_of(url)
        admin(f'DROP TABLE "{schema}".job_counts, "{schema}".job_count_changes')
        admin(
            f'ALTER TABLE "{schema}".jobs DROP COLUMN headers, DROP COLUMN unique_key,'
            " DROP COLUMN unique_until"
        )
        admin(f'DROP TABLE "{schema}".slots, "{schema}".rates')
        admin(f'DELETE FROM "{schema}".migrations WHERE version >= 4')
        assert [m.version for m in await asyncio.to_thread(migrate, url)] == [4, 5, 6, 7, 8, 9, 10]
        a, b = await store.stats("a"), await store.stats("b")
        assert (a.pending, a.processing, a.total, b.pending) == (2, 1, 3, 1)
    finally:
        await store.close()


async def test_more_statements_at_once_than_connections_all_get_one(url: str) -> None:
    """Connections kept for the next statement go back to the pool while others wait."""
    store = PostgresStore(f"{url}&pool_size=2")
    try:
        await store.open()
        async with asyncio.timeout(4):  # under the pool's 5 s wait for a connection
            await asyncio.gather(*(store.enqueue([new_record("q")]) for _ in range(20)))
        assert (await store.stats("q")).pending == 20
    finally:
        await store.close()


async def test_a_schema_dropped_under_a_running_queue_is_created_again(url: str) -> None:
    queue = create_queue(url=url)
    try:
        for n in range(6):  # past psycopg's prepare threshold: server-side plans exist
            await queue.enqueue("job", {"n": n})
        admin(f'DROP SCHEMA "{schema_of(url)}" CASCADE')
        job_id = await queue.enqueue("job", {"n": "after"})  # rerun once the schema is back
        job = await queue.get_job(job_id)
        assert job is not None
        assert job.payload == {"n": "after"}
        assert (await queue.get_stats()).pending == 1
    finally:
        await queue.close()


async def test_a_dropped_schema_is_not_created_again_without_migrate(url: str) -> None:
    queue = create_queue(url=url)
    await queue.enqueue("job", {"n": 1})
    await queue.close()
    strict = create_queue(url=f"{url}&migrate=false")
    try:
        await strict.get_stats()
        admin(f'DROP SCHEMA "{schema_of(url)}" CASCADE')
        with pytest.raises(BackendUnavailableError, match="does not exist"):
            await strict.enqueue("job", {"n": 2})
        assert admin("SELECT 1 FROM pg_namespace WHERE nspname = %s", schema_of(url)) == []
    finally:
        await strict.close()
