"""OpenTelemetry tracing: the span of an enqueue is the parent of the job's run.

Turned on per queue object with :meth:`conveyor.Queue.enable_tracing` (it needs
``conveyor[tracing]``, i.e. ``opentelemetry-api``; the application configures the SDK
and its exporter as usual). Then:

- every ``enqueue`` / ``enqueue_many`` runs in a PRODUCER span ``<name> send`` (one
  span per call), and the trace context current inside it is written into each job's
  headers with the configured propagator (W3C ``traceparent`` by default);
- every attempt a worker runs is a CONSUMER span ``<name> process`` whose parent is
  that context, even in another process or on another machine; the handler runs
  inside it, so the spans it makes (HTTP calls, queries) join the same trace. An
  attempt that raises ends with status ERROR and the exception recorded.

A process that only enqueues and one that only runs jobs each need tracing turned on
(both sides are usually the same module's queue object). Handlers run in subprocesses
(``run_in="process"``) get no span of their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ._version import __version__
from .definitions.hooks import Hook
from .definitions.options import add_headers
from .errors import ConfigurationError
from .job import Job
from .stores.records import JobRecord

SYSTEM = "conveyor"
"""The ``messaging.system`` attribute of every span."""


class Tracing(Hook):
    """Makes the send and process spans of one queue object (a hook of the queue)."""

    def __init__(self, tracer_provider: Any = None) -> None:
        try:
            from opentelemetry import propagate, trace
        except ImportError:
            raise ConfigurationError(
                "tracing needs the OpenTelemetry API: pip install 'conveyor[tracing]'"
            ) from None
        self._propagate = propagate
        self._trace = trace
        self._tracer = trace.get_tracer("conveyor", __version__, tracer_provider=tracer_provider)

    @contextmanager
    def sending(self, records: Sequence[JobRecord]) -> Iterator[None]:
        """Run the block (the store write) in a send span; put its context in ``records``."""
        names = {record.name for record in records}
        first = records[0]
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "send",
            "messaging.destination.name": first.queue,
        }
        if len(records) == 1:
            attributes["messaging.message.id"] = first.id
        else:
            attributes["messaging.batch.message_count"] = len(records)
        span_name = f"{first.name if len(names) == 1 else first.queue} send"
        kind = self._trace.SpanKind.PRODUCER
        with self._tracer.start_as_current_span(span_name, kind=kind, attributes=attributes):
            carrier: dict[str, str] = {}
            self._propagate.inject(carrier)
            if carrier:
                for record in records:
                    add_headers(record, carrier)
            yield

    @contextmanager
    def running(self, job: Job) -> Iterator[None]:
        """Run the block (the handler) in a process span, child of the job's send span."""
        parent = self._propagate.extract(dict(job.headers)) if job.headers else None
        attributes: dict[str, Any] = {
            "messaging.system": SYSTEM,
            "messaging.operation.type": "process",
            "messaging.destination.name": job.queue,
            "messaging.message.id": job.id,
            "conveyor.job.attempt": job.attempts,
        }
        kind = self._trace.SpanKind.CONSUMER
        with self._tracer.start_as_current_span(
            f"{job.name} process", context=parent, kind=kind, attributes=attributes
        ):
            yield
