"""Fixtures shared by the unit and conformance suites.

``store_url`` yields every store the conformance suite runs on: ``memory://``, a fresh
SQLite file in the test's ``tmp_path``, Redis and PostgreSQL (each test under a key
prefix or schema of its own, removed afterwards: see :mod:`servers`), and each URL of
``CONVEYOR_TEST_URLS`` (comma-separated), and a Redis Cluster of three nodes this
session starts in a temporary folder (:class:`servers.RedisCluster`). Tests also give
every queue a unique name (:func:`testkit.unique_name`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import Queue, create_queue
from conveyor.stores import Store, mask_url
from servers import POSTGRES, REDIS, RedisCluster, namespace_on
from testkit import unique_name


def _extra_urls() -> list[str]:
    raw = os.environ.get("CONVEYOR_TEST_URLS", "")
    return [url.strip() for url in raw.split(",") if url.strip()]


STORE_PARAMS = [
    pytest.param("memory://", id="memory"),
    pytest.param("sqlite", id="sqlite"),
    pytest.param(REDIS, id="redis"),
    pytest.param(POSTGRES, id="postgres"),
    pytest.param("redis-cluster", id="redis-cluster"),
    *(pytest.param(url, id=mask_url(url)) for url in _extra_urls()),
]


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A Redis Cluster of three primaries, for the whole session."""
    cluster = RedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(params=STORE_PARAMS)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of one store under test (a new SQLite file, prefix or schema per test)."""
    url = str(request.param)
    if url == "sqlite":
        yield f"sqlite:///{tmp_path / 'x.db'}"
        return
    if url == "redis-cluster":
        url = request.getfixturevalue("redis_cluster").url
    if url.startswith(("redis", "postgres")):
        with namespace_on(url) as namespaced_url:
            yield namespaced_url
    else:
        yield url


QueueFactory = Callable[..., Queue]


@pytest.fixture
async def make_queue(store_url: str) -> AsyncIterator[QueueFactory]:
    """Make queues on the store under test; each is stopped and closed at teardown.

    ``make_queue(workers=1, lease=1.0)`` makes a queue with a unique name.
    ``make_queue(peer=q, ...)`` makes a second queue object on the same store and name
    as ``q``, as another process would (on a store that cannot be shared between
    processes, such as ``memory://``, it shares ``q``'s store object).
    ``make_queue(store=q.store, name=...)`` makes a queue on ``q``'s very store object.
    """
    made: list[Queue] = []

    def make(*, peer: Queue | None = None, store: Store | None = None, **options: Any) -> Queue:
        if peer is not None:
            options.setdefault("name", peer.name)
            if not peer.store.capabilities.cross_process:
                store = peer.store
        options.setdefault("name", unique_name())
        if store is not None:
            queue = Queue(store, **options)
        else:
            queue = create_queue(url=store_url, **options)
        made.append(queue)
        return queue

    try:
        yield make
    finally:
        for queue in reversed(made):
            # A test that failed half-way may leave a job running: put it back, bounded.
            await queue.stop(timeout=2.0)
            await queue.close()


@pytest.fixture(autouse=True)
async def _report_hanging_tasks(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    """Print where each task of an async test waits 10 s before pytest-timeout ends it.

    The timeout's own report shows the threads' stacks, not the tasks'.
    """
    loop = asyncio.get_running_loop()
    after = max(float(request.config.getini("timeout") or 120) - 10.0, 1.0)

    def report() -> None:
        print(f"\n===== asyncio tasks still waiting after {after:g} s =====")
        for task in asyncio.all_tasks(loop):
            print(f"--- {task.get_name()}")
            awaited: Any = task.get_coro()
            while awaited is not None:
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                if frame is not None:
                    print(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                next_awaited = getattr(awaited, "cr_await", None) or getattr(
                    awaited, "gi_yieldfrom", None
                )
                if next_awaited is None:
                    print(f"  waits on {awaited!r}")
                awaited = next_awaited

    timer = loop.call_later(after, report)
    try:
        yield
    finally:
        timer.cancel()
