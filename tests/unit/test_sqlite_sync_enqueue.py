"""``queue.sync`` enqueues on SQLite commit on the calling thread, not through the portal."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conveyor import JobStatus, Queue, QueueStats, create_queue


@pytest.fixture
def queue(tmp_path: Path) -> Iterator[Queue]:
    queue = create_queue(workers=4, url=f"sqlite:///{tmp_path / 'q.db'}", name="q")
    yield queue
    queue.sync.close()


def test_an_enqueue_does_not_wait_for_a_busy_portal(queue: Queue) -> None:
    queue.sync.enqueue("job", 0)  # opens the store (through the portal)
    portal_free = threading.Event()
    queue.sync.portal.loop().call_soon_threadsafe(portal_free.wait, 10)  # blocks it
    began = time.monotonic()
    ids = [queue.sync.enqueue("job", 1), *queue.sync.enqueue_many([("job", 2)])]
    ids.append(queue.sync.schedule("job", 3, 60))
    took = time.monotonic() - began
    portal_free.set()
    assert took < 5
    jobs = [queue.sync.get_job(i) for i in ids]
    assert [(j.payload, j.status) for j in jobs if j] == [
        (1, JobStatus.PENDING), (2, JobStatus.PENDING), (3, JobStatus.SCHEDULED),
    ]  # fmt: skip


def test_after_close_the_next_enqueue_opens_the_store_again(queue: Queue) -> None:
    queue.sync.enqueue("job", 0)
    queue.sync.close()
    assert not queue.store.writes_here
    queue.sync.enqueue("job", 1)
    assert queue.store.writes_here
    assert queue.sync.get_stats() == QueueStats(pending=2)


def test_the_send_span_of_a_blocking_enqueue_is_a_child_of_the_callers_span(queue: Queue) -> None:
    sdk = pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = sdk.TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue.enable_tracing(provider)
    queue.sync.get_stats()  # opens the store
    with provider.get_tracer("app").start_as_current_span("request"):
        job_id = queue.sync.enqueue("job", 1)
    spans = {span.name: span for span in exporter.get_finished_spans()}
    request, send = spans["request"], spans["job send"]
    assert send.parent is not None
    assert request.context is not None
    assert send.parent.span_id == request.context.span_id
    job = queue.sync.get_job(job_id)
    assert job is not None
    assert "traceparent" in job.headers
    provider.shutdown()
