"""OpenTelemetry: a job's run is a child span of its enqueue, on every store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from conftest import QueueFactory
from conveyor import JobStatus


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [span for span in spans if span.name == name]
    assert len(found) == 1, [span.name for span in spans]
    return found[0]


def is_child(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None
    assert parent.context is not None
    assert child.context is not None
    return (
        child.context.trace_id == parent.context.trace_id
        and child.parent.span_id == parent.context.span_id
    )


async def test_a_jobs_run_is_a_child_of_its_enqueue(
    make_queue: QueueFactory, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    app = provider.get_tracer("app")
    queue = make_queue(workers=2)
    queue.enable_tracing(provider)

    @queue.handler("async-job")
    async def async_job(job: object) -> None:
        with app.start_as_current_span("inside async"):
            pass

    @queue.handler("plain-job")
    def plain_job(job: object) -> None:
        with app.start_as_current_span("inside plain"):
            pass

    with app.start_as_current_span("request"):
        async_id = await queue.enqueue("async-job", {"n": 1})
        plain_id = await queue.enqueue("plain-job", {"n": 2})
    job = await queue.get_job(async_id)
    assert job is not None
    assert "traceparent" in job.headers  # carried with the job in the store

    await queue.start()
    for job_id in (async_id, plain_id):
        assert (await queue.wait(job_id, timeout=10)).status is JobStatus.COMPLETED
    finished = exporter.get_finished_spans()
    request = one(finished, "request")
    for name in ("async", "plain"):
        send, process = one(finished, f"{name}-job send"), one(finished, f"{name}-job process")
        assert send.kind is SpanKind.PRODUCER
        assert process.kind is SpanKind.CONSUMER
        assert is_child(send, request)
        assert is_child(process, send)
        assert is_child(one(finished, f"inside {name}"), process)
    process = one(finished, "async-job process")
    assert process.attributes is not None
    assert process.attributes["messaging.message.id"] == async_id
    assert process.attributes["conveyor.job.attempt"] == 1


async def test_a_failed_attempt_is_an_error_span_and_a_batch_one_send(
    make_queue: QueueFactory, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    queue = make_queue(workers=2)
    queue.enable_tracing(provider)

    @queue.handler("bad", max_retries=0)
    async def bad(job: object) -> None:
        raise ValueError("broken input")

    ids = await queue.enqueue_many([("bad", {"n": n}) for n in range(3)])
    await queue.start()
    for job_id in ids:
        assert (await queue.wait(job_id, timeout=10)).status is JobStatus.FAILED
    finished = exporter.get_finished_spans()
    send = one(finished, "bad send")
    assert send.attributes is not None
    assert send.attributes["messaging.batch.message_count"] == 3
    processes = [span for span in finished if span.name == "bad process"]
    assert len(processes) == 3
    for process in processes:
        assert is_child(process, send)
        assert process.status.status_code is StatusCode.ERROR
        assert [event.name for event in process.events] == ["exception"]


async def test_without_tracing_jobs_carry_no_headers(make_queue: QueueFactory) -> None:
    queue = make_queue()
    job_id = await queue.enqueue("job")
    job = await queue.get_job(job_id)
    assert job is not None
    assert job.headers == {}
