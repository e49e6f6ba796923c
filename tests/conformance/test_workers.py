"""Workers tell the store they are alive: listed with their queues and running jobs,
gone when they stop, and left out once their beat expires (a killed worker)."""

from __future__ import annotations

import asyncio
import json
import os
import threading

import pytest

from conftest import QueueFactory
from conveyor import Job
from testkit import eventually, unique_name


async def test_a_started_worker_is_listed_with_what_it_runs(
    make_queue: QueueFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    import conveyor.runtime.worker

    monkeypatch.setattr(conveyor.runtime.worker, "PRESENCE_EVERY", 0.05)
    queue = make_queue(workers=3)
    release = threading.Event()

    @queue.handler("hold")
    def hold(job: Job) -> None:
        release.wait(10)

    watcher = make_queue(peer=queue)  # another process's view, where the store allows
    await queue.start()
    try:
        job_id = await queue.enqueue("hold")

        async def listed_running() -> bool:
            workers = [w for w in await watcher.get_workers() if queue.name in w.queues]
            return len(workers) == 1 and workers[0].running == (job_id,)

        await eventually(listed_running, "the worker listed with its job")
        [worker] = [w for w in await watcher.get_workers() if queue.name in w.queues]
        assert (worker.pid, worker.concurrency, worker.queues) == (os.getpid(), 3, (queue.name,))
        assert worker.started_at <= worker.seen_at
    finally:
        release.set()
    await queue.stop()
    assert [w for w in await watcher.get_workers() if queue.name in w.queues] == []


async def test_a_worker_whose_beat_expired_is_left_out(make_queue: QueueFactory) -> None:
    store = make_queue().store
    name = unique_name()
    info = {"id": name, "host": "h", "pid": 1, "queues": [name], "concurrency": 1,
            "started_at": 1.0, "seen_at": 1.0, "running": []}  # fmt: skip
    await store.beat_worker(name, json.dumps(info), 0.3)
    assert name in [json.loads(i)["id"] for i in await store.list_workers()]
    await asyncio.sleep(0.5)
    assert name not in [json.loads(i)["id"] for i in await store.list_workers()]
    await store.forget_worker(name)  # forgetting a gone worker is harmless
