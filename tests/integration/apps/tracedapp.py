"""A worker app with tracing on: ``conveyor worker tracedapp:queue``.

Every span this process ends is appended to ``IT_SPANS`` as a JSON line (name, kind,
trace id, span id, parent span id, status), the way an exporter would ship it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from conveyor import Job, create_queue


class JsonLinesExporter(SpanExporter):
    """Appends each span to a file as one JSON line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with open(self.path, "a", encoding="utf-8") as out:
            for span in spans:
                assert span.context is not None
                out.write(json.dumps({
                    "name": span.name,
                    "kind": span.kind.name,
                    "trace_id": span.context.trace_id,
                    "span_id": span.context.span_id,
                    "parent_id": span.parent.span_id if span.parent else None,
                    "status": span.status.status_code.name,
                    "pid": os.getpid(),
                }) + "\n")  # fmt: skip
        return SpanExportResult.SUCCESS


provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(os.environ["IT_SPANS"])))

queue = create_queue(workers=2)
queue.enable_tracing(provider)


@queue.handler("traced")
async def traced(job: Job) -> int:
    with provider.get_tracer("app").start_as_current_span("work"):
        return os.getpid()
