"""Prometheus metrics of one process's queue (``pip install 'conveyor[metrics]'``).

``queue.enable_metrics()`` counts what this process does — jobs it enqueued, started
and finished per queue and job name, how long they waited and ran, how many worker
slots are busy — and, at every scrape, how many jobs of the queue the store holds per
status. ``conveyor worker --metrics-port 9100`` serves them over HTTP
(``/metrics``); :func:`serve_metrics` does it from your own code. Each process counts
only its own work: sum over processes in your queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .definitions.hooks import Hook
from .errors import ConfigurationError
from .job import Job, JobStatus, QueueStats
from .stores.records import JobRecord

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
"""The histograms' buckets, in seconds: from a millisecond no-op to an hour-long report."""


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError:
        raise ConfigurationError(
            "metrics need the prometheus-client package: pip install 'conveyor[metrics]'"
        ) from None
    return prometheus_client


class Metrics(Hook):
    """The metrics of one queue object, registered in ``registry`` (a hook of the queue)."""

    def __init__(
        self,
        stats: Callable[[], QueueStats],
        queue_name: str,
        registry: CollectorRegistry | None = None,
    ) -> None:
        prom = _prometheus()
        self.registry = registry if registry is not None else prom.CollectorRegistry()
        labels = ("queue", "name")
        self.enqueued = prom.Counter(
            "conveyor_jobs_enqueued", "Jobs this process enqueued.", labels,
            registry=self.registry,
        )  # fmt: skip
        self.ended = prom.Counter(
            "conveyor_jobs_finished",
            "Attempts this process ran to an end, by how they ended (completed, failed,"
            " retrying, cancelled).",
            (*labels, "outcome"),
            registry=self.registry,
        )
        self.run_seconds = prom.Histogram(
            "conveyor_job_run_seconds", "How long attempts ran.", labels,
            buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.wait_seconds = prom.Histogram(
            "conveyor_job_wait_seconds", "From enqueue (or due time) to the first start.",
            labels, buckets=BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.busy = prom.Gauge(
            "conveyor_worker_busy_slots", "Jobs this process runs now.", ("queue",),
            registry=self.registry,
        )  # fmt: skip
        self.registry.register(_DepthCollector(stats, queue_name))

    def stored(self, records: Sequence[JobRecord]) -> None:
        """Count the jobs this process enqueued."""
        for record in records:
            self.enqueued.labels(record.queue, record.name).inc()

    def started(self, job: Job) -> None:
        """Count an attempt that starts; observe the first attempt's wait."""
        self.busy.labels(job.queue).inc()
        if job.attempts == 1 and job.started_at is not None:
            ready = job.config.scheduled_at or job.created_at
            if ready is not None:
                wait = (job.started_at - ready).total_seconds()
                self.wait_seconds.labels(job.queue, job.name).observe(max(wait, 0.0))

    def finished(self, job: Job, status: JobStatus, seconds: float) -> None:
        """Count an attempt that ended (``SCHEDULED``: it will be retried)."""
        self.busy.labels(job.queue).dec()
        if status is JobStatus.PENDING:
            return  # put back unfinished on a stop: not an outcome
        outcome = "retrying" if status is JobStatus.SCHEDULED else status.value
        self.ended.labels(job.queue, job.name, outcome).inc()
        self.run_seconds.labels(job.queue, job.name).observe(seconds)


class _DepthCollector:
    """``conveyor_queue_jobs{queue, status}``: read from the store at each scrape."""

    def __init__(self, stats: Callable[[], QueueStats], queue_name: str) -> None:
        self._stats = stats
        self._queue = queue_name

    def describe(self) -> Iterator[Any]:
        """Name the metric without reading the store (the registry asks on register)."""
        yield self._family()

    def _family(self) -> Any:
        from prometheus_client.core import GaugeMetricFamily

        return GaugeMetricFamily(
            "conveyor_queue_jobs", "Jobs of the queue in the store, per status.",
            labels=("queue", "status"),
        )  # fmt: skip

    def collect(self) -> Iterator[Any]:
        """Read the store's counts (at each scrape)."""
        family = self._family()
        counts = self._stats()
        for status in JobStatus:
            family.add_metric((self._queue, status.value), getattr(counts, status.value))
        yield family


def serve_metrics(metrics: Metrics, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``/metrics`` on ``host:port`` from a thread; return the server (``shutdown()``)."""
    server, _thread = _prometheus().start_http_server(port, host, registry=metrics.registry)
    return server
