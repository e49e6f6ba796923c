"""What watches a queue: Prometheus metrics and OpenTelemetry tracing, as hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from ..definitions.hooks import Hooks
from ..job import QueueStats

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from ..metrics import Metrics
    from ..tracing import Tracing


class CountsBlocking(Protocol):
    """What the metrics read of ``queue.sync``: the queue's counts, from any thread."""

    def get_stats(self) -> QueueStats:
        """Count the queue's jobs per status."""
        ...


class Watching:
    """The facade's switches for metrics and tracing (:class:`Queue` has them)."""

    hooks: Hooks
    metrics: Metrics | None
    tracing: Tracing | None

    @property
    def name(self) -> str:
        """The queue's name (the facade's)."""
        raise NotImplementedError

    @property
    def sync(self) -> CountsBlocking:
        """The blocking twins (the facade's)."""
        raise NotImplementedError

    def enable_metrics(self, registry: CollectorRegistry | None = None) -> Metrics:
        """Count this process's jobs for Prometheus (needs ``conveyor[metrics]``).

        Call it before :meth:`~conveyor.Queue.start`. ``registry``: a ``prometheus_client``
        ``CollectorRegistry`` (default: a new one); serve it with
        :func:`conveyor.metrics.serve_metrics` or your own exporter.
        """
        from ..metrics import Metrics

        if self.metrics is None:
            self.metrics = Metrics(lambda: self.sync.get_stats(), self.name, registry)
            self.hooks.add(self.metrics)
        return self.metrics

    def enable_tracing(self, tracer_provider: Any = None) -> Tracing:
        """Trace enqueues and job runs with OpenTelemetry (needs ``conveyor[tracing]``).

        Each enqueue gets a PRODUCER span whose context travels in the jobs' headers;
        each attempt run by this queue's workers gets a CONSUMER span, its child. Call it
        in every process that enqueues or runs jobs. ``tracer_provider``: default the
        global one. See :mod:`conveyor.tracing`.
        """
        from ..tracing import Tracing

        if self.tracing is None:
            self.tracing = Tracing(tracer_provider)
            self.hooks.add(self.tracing)
        return self.tracing
