"""``queue.sync`` enqueues on the calling thread, on every store that writes there.

SQLite, Redis (a cluster too) and PostgreSQL store a blocking twin's new jobs on the
calling thread once the store is open, not through the portal's event loop. Each test
proves it by keeping the portal's loop busy while it enqueues: an enqueue that went
through it would wait that long. The jobs are those an awaited enqueue would store,
with their local and remote ``job:added``, and they wake this process's idle workers.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from conveyor import Job, JobStatus, Queue, QueueStats, SerializationError, create_queue
from testkit import portal_busy, unique_name


@pytest.fixture
def queue(store_url: str) -> Iterator[Queue]:
    """An open queue on the store under test (not ``memory://``: it writes on its loop only)."""
    if store_url.startswith("memory:"):
        pytest.skip("memory:// writes from its event loop only")
    queue = create_queue(workers=4, url=store_url, name=unique_name())
    try:
        queue.sync.get_stats()  # opens the store (through the portal)
        assert queue.store.writes_here
        yield queue
    finally:
        queue.sync.close()


def test_enqueues_store_their_jobs_without_the_portal(queue: Queue) -> None:
    with portal_busy(queue):
        one = queue.sync.enqueue("job", {"n": 1}, priority=3, max_retries=5)
        many = queue.sync.enqueue_many([("job", {"n": 2}), ("job", {"n": 3})])
        later = queue.sync.schedule("job", {"n": 4}, 60)
    jobs = [queue.sync.get_job(job_id) for job_id in (one, *many, later)]
    assert [(j.payload["n"], j.status) for j in jobs if j] == [
        (1, JobStatus.PENDING), (2, JobStatus.PENDING), (3, JobStatus.PENDING),
        (4, JobStatus.SCHEDULED),
    ]  # fmt: skip
    first = jobs[0]
    assert first is not None
    assert (first.config.priority, first.config.max_retries) == (3, 5)
    assert queue.sync.get_stats() == QueueStats(pending=3, scheduled=1)


def test_a_payload_that_does_not_serialise_stores_nothing(queue: Queue) -> None:
    with portal_busy(queue):
        queue.sync.enqueue("job", 0)
        with pytest.raises(SerializationError):
            queue.sync.enqueue("job", object())
        with pytest.raises(SerializationError):
            queue.sync.enqueue_many([("job", 1), ("job", object())])
    assert queue.sync.get_stats() == QueueStats(pending=1)


def test_an_idle_worker_of_this_process_starts_the_job_at_once(queue: Queue) -> None:
    done = threading.Event()
    queue.register("note", lambda job: done.set())
    queue.sync.start()
    waits = []
    for _ in range(5):
        time.sleep(0.1)  # the worker waits for work again (its poll: once a second)
        done.clear()
        began = time.monotonic()
        queue.sync.enqueue("note")
        assert done.wait(5), "the job did not run"
        waits.append(time.monotonic() - began)
    queue.sync.stop(timeout=5)
    assert max(waits) < 0.5, f"enqueue to run took {[f'{w:.3f}' for w in waits]} s"


def test_threads_enqueuing_at_once_beside_a_worker_lose_nothing(queue: Queue) -> None:
    threads, each = 8, 30
    seen: list[int] = []
    queue.register("note", lambda job: seen.append(job.payload))
    added: list[str] = []
    queue.on("job:added", lambda job: added.append(job.id))
    queue.sync.start()
    errors: list[BaseException] = []

    def produce(first: int) -> None:
        try:
            for i in range(first, first + each):
                queue.sync.enqueue("note", i)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    producers = [threading.Thread(target=produce, args=(t * each,)) for t in range(threads)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    assert errors == []
    deadline = time.monotonic() + 20
    while len(seen) < threads * each and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sorted(seen) == list(range(threads * each))
    assert len(added) == threads * each
    queue.sync.stop(timeout=5)
    assert queue.sync.get_stats() == QueueStats(completed=threads * each)


def test_another_queue_object_hears_the_job_added(queue: Queue, store_url: str) -> None:
    if not queue.store.capabilities.cross_process_events:
        pytest.skip(f"{queue.url} does not publish events across processes")
    other = create_queue(url=store_url, name=queue.name)
    heard: list[str] = []
    arrived = threading.Event()

    def note(job: Job) -> None:
        heard.append(job.id)
        arrived.set()

    try:
        other.on("job:added", note)
        other.sync.get_stats()  # open: subscribed to the store's events from here on
        with portal_busy(queue):
            job_id = queue.sync.enqueue("job", 1)
        assert arrived.wait(5), "no job:added reached the other queue"
        assert heard == [job_id]
    finally:
        other.sync.close()


def test_after_close_the_next_enqueue_opens_the_store_again(queue: Queue) -> None:
    queue.sync.enqueue("job", 0)
    queue.sync.close()
    assert not queue.store.writes_here
    queue.sync.enqueue("job", 1)  # through the portal, which opens the store
    assert queue.store.writes_here
    with portal_busy(queue):
        queue.sync.enqueue("job", 2)
    assert queue.sync.get_stats() == QueueStats(pending=3)
