"""Tracing across processes: the worker's span of a job is a child of the enqueue's."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from it_support import Processes

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conveyor import JobStatus, create_queue


async def test_the_workers_span_continues_the_trace_of_the_enqueue(tmp_path: Path) -> None:
    spans_file = tmp_path / "worker-spans.jsonl"
    procs = Processes(tmp_path, f"sqlite:///{tmp_path / 'traced.db'}")
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue = create_queue(url=procs.url)  # the web process: enqueues only
    queue.enable_tracing(provider)
    try:
        procs.worker("worker", app="tracedapp:queue", IT_SPANS=str(spans_file))
        with provider.get_tracer("web").start_as_current_span("POST /upload"):
            job_id = await queue.enqueue("traced", {"file": "a.csv"})
        done = await queue.wait(job_id, timeout=30)
        assert done.status is JobStatus.COMPLETED
        assert done.result != os.getpid()
    except BaseException:
        procs.dump_logs()
        raise
    finally:
        procs.cleanup()
        await queue.close()
        provider.shutdown()

    [send] = [s for s in exporter.get_finished_spans() if s.name == "traced send"]
    assert send.context is not None
    worker_spans = {s["name"]: s for s in map(json.loads, spans_file.read_text().splitlines())}
    process, work = worker_spans["traced process"], worker_spans["work"]
    assert process["pid"] == done.result
    assert process["kind"] == "CONSUMER"
    assert process["trace_id"] == send.context.trace_id
    assert process["parent_id"] == send.context.span_id
    assert (work["trace_id"], work["parent_id"]) == (send.context.trace_id, process["span_id"])
