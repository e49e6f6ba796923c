"""The store's side of recurring schedules (``save_schedules``, ``fire_schedule``...),
on every store: registration keeps state, a tick fires once, pause, resume, remove."""

from __future__ import annotations

import asyncio
import dataclasses

from conftest import QueueFactory
from conveyor.job import JobStatus
from conveyor.stores.records import JobRecord, ScheduleRecord
from testkit import unique_name

T0 = 1_900_000_000_000  # ms


def schedule(queue: str, key: str, **fields: object) -> ScheduleRecord:
    values: dict[str, object] = {
        "queue": queue, "key": key, "spec": '{"name": "job"}', "last_tick": T0,
        "next_tick": T0 + 1000, "seen_at": T0 / 1000,
    }  # fmt: skip
    values.update(fields)
    return ScheduleRecord(**values)  # type: ignore[arg-type]


def job(queue: str, tick: int) -> JobRecord:
    return JobRecord(
        id=f"{queue}-{tick}", queue=queue, name="job", payload=b"null",
        status=JobStatus.PENDING, priority=1, max_retries=0, retry_delay=1.0, timeout=30.0,
        backoff=None, created_at=tick / 1000, run_at=tick / 1000, scheduled_at=tick / 1000,
    )  # fmt: skip


async def test_saving_stores_new_schedules_and_keeps_where_known_ones_stand(
    make_queue: QueueFactory,
) -> None:
    store = make_queue().store
    queue = unique_name()
    first = await store.save_schedules([schedule(queue, "a"), schedule(queue, "b")])
    assert [(s.key, s.last_tick, s.paused, s.last_job_id) for s in first] == [
        ("a", T0, False, None),
        ("b", T0, False, None),
    ]
    tick_job = job(queue, T0 + 1000)
    assert await store.fire_schedule(queue, "a", T0, T0 + 1000, T0 + 2000, [tick_job])
    assert await store.pause_schedule(queue, "b", True, T0)

    # A process starting later registers them again, with a newer definition.
    again = await store.save_schedules(
        [
            schedule(
                queue,
                "a",
                spec='{"v": 2}',
                last_tick=T0 + 5000,
                next_tick=T0 + 9000,
                seen_at=T0 / 1000 + 5,
            )
        ]
    )
    assert len(again) == 1
    saved = again[0]
    assert (saved.last_tick, saved.last_job_id, saved.paused) == (T0 + 1000, tick_job.id, False)
    assert (saved.spec, saved.next_tick, saved.seen_at) == ('{"v": 2}', T0 + 9000, T0 / 1000 + 5)
    listed = await store.list_schedules(queue)
    assert [(s.key, s.paused) for s in listed] == [("a", False), ("b", True)]
    assert listed[0] == saved
    assert await store.list_schedules(unique_name()) == []


async def test_a_tick_fires_once_and_its_jobs_are_stored_with_it(make_queue: QueueFactory) -> None:
    q = make_queue()
    store, queue = q.store, q.name
    await store.save_schedules([schedule(queue, "nightly")])
    jobs = [job(queue, T0 + 1000), job(queue, T0 + 2000)]
    assert await store.fire_schedule(queue, "nightly", T0, T0 + 2000, T0 + 3000, jobs)
    # A second process that saw the same state loses; nothing is stored twice.
    assert not await store.fire_schedule(queue, "nightly", T0, T0 + 2000, T0 + 3000, jobs)
    (state,) = await store.list_schedules(queue)
    assert (state.last_tick, state.next_tick, state.last_job_id) == (
        T0 + 2000,
        T0 + 3000,
        jobs[1].id,
    )
    stored = await store.list_jobs(queue, JobStatus.PENDING, 10, 0)
    assert [r.id for r in stored] == [r.id for r in jobs]
    assert stored[0].scheduled_at == (T0 + 1000) / 1000
    # Passing over a tick moves the schedule on without a job.
    assert await store.fire_schedule(queue, "nightly", T0 + 2000, T0 + 3000, T0 + 4000, [])
    (state,) = await store.list_schedules(queue)
    assert (state.last_tick, state.last_job_id) == (T0 + 3000, jobs[1].id)
    assert len(await store.list_jobs(queue, JobStatus.PENDING, 10, 0)) == 2


async def test_of_many_concurrent_firings_of_one_tick_exactly_one_wins(
    make_queue: QueueFactory,
) -> None:
    q = make_queue()
    stores = [q.store] + [make_queue(peer=q).store for _ in range(2)]
    await q.store.save_schedules([schedule(q.name, "race")])
    attempts = [
        store.fire_schedule(q.name, "race", T0, T0 + 1000, None, [job(q.name, T0 + 1000)])
        for store in stores
        for _ in range(4)
    ]
    won = await asyncio.gather(*attempts)
    assert sum(won) == 1
    assert len(await q.store.list_jobs(q.name, JobStatus.PENDING, 100, 0)) == 1


async def test_a_paused_schedule_does_not_fire_and_resuming_skips_what_it_missed(
    make_queue: QueueFactory,
) -> None:
    q = make_queue()
    store, queue = q.store, q.name
    await store.save_schedules([schedule(queue, "s")])
    assert await store.pause_schedule(queue, "s", True, T0)
    assert not await store.fire_schedule(queue, "s", T0, T0 + 1000, None, [job(queue, T0 + 1000)])
    assert await store.list_jobs(queue, JobStatus.PENDING, 10, 0) == []
    assert await store.pause_schedule(queue, "s", False, T0 + 60_000)
    (state,) = await store.list_schedules(queue)
    assert (state.paused, state.last_tick) == (False, T0 + 60_000)
    # Resuming one that was not paused changes nothing.
    assert await store.pause_schedule(queue, "s", False, T0 + 90_000)
    assert (await store.list_schedules(queue))[0].last_tick == T0 + 60_000
    assert not await store.pause_schedule(queue, "missing", True, T0)


async def test_removing_schedules_leaves_their_jobs(make_queue: QueueFactory) -> None:
    q = make_queue()
    store, queue = q.store, q.name
    await store.save_schedules([schedule(queue, "a"), schedule(queue, "b"), schedule(queue, "c")])
    fired = job(queue, T0 + 1000)
    assert await store.fire_schedule(queue, "a", T0, T0 + 1000, None, [fired])
    assert await store.remove_schedules(queue, ["a", "b", "nope"]) == 2
    assert [s.key for s in await store.list_schedules(queue)] == ["c"]
    assert not await store.fire_schedule(queue, "a", T0 + 1000, T0 + 2000, None, [])
    assert (await store.get(fired.id)) is not None
    # Saved again (still in some process's code), it starts afresh.
    (back,) = await store.save_schedules([schedule(queue, "a", last_tick=T0 + 7000)])
    assert dataclasses.astuple(back)[3] == T0 + 7000
    assert back.last_job_id is None
