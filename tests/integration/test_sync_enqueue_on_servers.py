"""``queue.sync`` enqueues on the calling thread with real servers and processes.

Redis and PostgreSQL (and SQLite where it applies) store a blocking twin's jobs on the
calling thread (:func:`testkit.portal_busy` proves it): a worker in another process
runs them; a stopped or unreachable server raises ``BackendUnavailableError`` there;
closing the queue closes those connections; a forked child enqueues on connections of
its own and leaves its parent's alone; threads beyond PostgreSQL's ``pool_size`` go
through the portal's pool and lose nothing.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from it_support import Processes, wait_for
from private_servers import PrivatePostgres, PrivateRedis

from conveyor import BackendUnavailableError, Queue, QueueStats, create_queue
from servers import POSTGRES, REDIS, drop_namespace, free_port, namespace_on, namespaced, require
from testkit import portal_busy, unique_name

pytestmark = pytest.mark.slow

THREADS, EACH = 4, 25


@pytest.fixture
def db_url(shared_store_url: str) -> str:
    """The worker-process test runs on each shared store: a SQLite file, Redis, PostgreSQL."""
    return shared_store_url


@pytest.fixture(params=["redis", "postgres"])
def server_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A namespace on the shared Redis or PostgreSQL server."""
    with namespace_on(REDIS if request.param == "redis" else POSTGRES) as url:
        yield url


@contextmanager
def opened(url: str, **options: object) -> Iterator[Queue]:
    """A queue on ``url``, open (through the portal), closed afterwards."""
    queue = create_queue(url=url, **options)  # type: ignore[arg-type]
    try:
        queue.sync.get_stats()
        assert queue.store.writes_here
        yield queue
    finally:
        queue.sync.close()


def _enqueue_from_threads(queue: Queue, name: str, threads: int = THREADS) -> list[str]:
    ids: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def produce() -> None:
        start.wait()
        for n in range(EACH):
            try:
                job_id = queue.sync.enqueue(name, {"n": n})
            except BaseException as exc:  # surfaced below
                errors.append(exc)
                return
            with lock:
                ids.append(job_id)

    producers = [threading.Thread(target=produce) for _ in range(threads)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join(30)
    assert errors == []
    return ids


def test_a_worker_in_another_process_runs_what_threads_enqueue(
    procs: Processes, queue: Queue, tmp_path: Path
) -> None:
    worker = procs.worker("worker", "--concurrency", "4")
    queue.sync.get_stats()  # open the store (through the portal)
    with portal_busy(queue):
        ids = [queue.sync.enqueue("record", {"n": n}) for n in range(EACH)]
    # At once (SQLite sends those that find its writer busy through the portal).
    ids += _enqueue_from_threads(queue, "record")
    ledger = tmp_path / "ledger.txt"

    def ran() -> set[str]:
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        return {line.split()[0] for line in lines}

    wait_for(lambda: ran() >= set(ids), 20, f"the worker process to run {len(ids)} jobs")
    assert len(set(ids)) == (THREADS + 1) * EACH
    assert worker.alive()


@pytest.mark.parametrize(
    "template", ["redis://127.0.0.1:{port}/0", "postgresql://postgres@127.0.0.1:{port}/postgres"]
)
def test_an_unreachable_server_is_an_outage(template: str) -> None:
    queue = create_queue(url=template.format(port=free_port()))
    try:
        with pytest.raises(BackendUnavailableError):
            queue.sync.enqueue("job", 1)
    finally:
        queue.sync.close()


def test_a_redis_that_stopped_is_an_outage_on_the_calling_thread(tmp_path: Path) -> None:
    with PrivateRedis(tmp_path / "redis") as server:
        url = f"{server.url}?prefix={unique_name('here')}"
        with opened(url) as queue:
            queue.sync.enqueue("job", 0)
            server.stop()
            with portal_busy(queue):
                with pytest.raises(BackendUnavailableError, match="unavailable"):
                    queue.sync.enqueue("job", 1)
                with pytest.raises(BackendUnavailableError, match="unavailable"):
                    queue.sync.enqueue_many([("job", 2), ("job", 3)])
            server.start()  # it reloads its append-only file, and forgot the scripts
            with portal_busy(queue):
                queue.sync.enqueue("job", 4)
                queue.sync.enqueue_many([("job", 5), ("job", 6)])
            assert queue.sync.get_stats() == QueueStats(pending=4)


def test_a_postgres_that_stopped_is_an_outage_on_the_calling_thread() -> None:
    with PrivatePostgres() as server, opened(server.url) as queue:
        queue.sync.enqueue("job", 0)
        server.stop()
        with portal_busy(queue):
            for payload in (1, 2):  # a broken connection, then a refused one
                with pytest.raises(BackendUnavailableError, match="PostgreSQL at"):
                    queue.sync.enqueue("job", payload)
        server.start()
        with portal_busy(queue):
            queue.sync.enqueue("job", 3)
            queue.sync.enqueue_many([("job", 4), ("job", 5)])
        # The calling thread's failures had the portal's pool checked too: it serves.
        assert queue.sync.get_stats() == QueueStats(pending=4)


def _close_releases(queue: Queue, count: Callable[[], int], what: str) -> None:
    """Twice: enqueue from calling threads (``count`` of connections >= 2), close, see 0."""
    for _ in range(2):
        with portal_busy(queue):
            _enqueue_from_threads(queue, "job")
        assert count() >= 2
        queue.sync.close()
        wait_for(lambda: count() == 0, 5, what)
        queue.sync.get_stats()  # open again


def test_close_releases_the_redis_connections_of_calling_threads(tmp_path: Path) -> None:
    with PrivateRedis(tmp_path / "redis") as server, server.client() as client:
        url = f"{server.url}?prefix={unique_name('here')}"

        def clients() -> int:
            return int(client.info("clients")["connected_clients"]) - 1  # but this one

        with opened(url) as queue:
            _close_releases(queue, clients, "the store's connections to close")


def test_close_releases_the_postgres_connections_of_calling_threads() -> None:
    require(POSTGRES)
    name = f"conveyor-test-{uuid.uuid4().hex[:8]}"
    url = namespaced(f"{POSTGRES}?application_name={name}")

    def sessions() -> int:
        with psycopg.connect(POSTGRES, autocommit=True) as conn:
            query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s"
            row = conn.execute(query, (name,)).fetchone()
        return int(row[0]) if row else 0

    try:
        with opened(url) as queue:
            _close_releases(queue, sessions, "the store's sessions to end")
    finally:
        drop_namespace(url)


def test_a_forked_child_enqueues_on_connections_of_its_own(server_url: str) -> None:
    with opened(server_url) as queue:
        queue.sync.enqueue("job", "before")  # on this thread: its connection stays idle
        pid = os.fork()
        if pid == 0:  # the child: enqueue, and exit at once whatever happens
            code = 1
            try:
                for n in range(20):
                    queue.sync.enqueue("job", f"child {n}")
                gc.collect()  # what it dropped of its parent's must not end the parent's sessions
                code = 0
            finally:
                os._exit(code)
        with portal_busy(queue):  # meanwhile, on the parent's connection
            for n in range(20):
                queue.sync.enqueue("job", f"parent {n}")
        deadline = time.monotonic() + 30
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail("the forked child's enqueues did not return")
        assert os.waitstatus_to_exitcode(done[1]) == 0, "the child's enqueues failed"
        with portal_busy(queue):  # the parent's connection was neither used nor closed
            queue.sync.enqueue("job", "after")
        assert queue.sync.get_stats() == QueueStats(pending=42)


def test_threads_beyond_the_pool_size_go_through_the_portal_and_lose_nothing() -> None:
    with namespace_on(POSTGRES) as base, opened(f"{base}&pool_size=2") as queue:
        ids = _enqueue_from_threads(queue, "job", threads=6)
        assert len(set(ids)) == 6 * EACH
        assert queue.sync.get_stats() == QueueStats(pending=6 * EACH)
