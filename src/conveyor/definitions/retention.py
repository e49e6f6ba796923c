"""How long finished jobs are kept: per queue, and per handler (``keep_completed``...).

The runtime's :class:`~conveyor.runtime.retention.Pruner` deletes them once older.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ..errors import ConfigurationError
from ..job import JobStatus
from ..retry import check_seconds


@dataclass(frozen=True, slots=True)
class Retention:
    """How long finished jobs are kept (seconds; ``None``: for ever)."""

    completed: float | None = None
    failed: float | None = None
    """Failed and cancelled jobs."""

    def keep(self, status: JobStatus) -> float | None:
        """Return how long jobs that ended in ``status`` are kept."""
        return self.completed if status is JobStatus.COMPLETED else self.failed


FOR_EVER = Retention()
PRUNED = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED)


def check_retention(
    keep_completed: float | timedelta | None, keep_failed: float | timedelta | None, where: str
) -> Retention:
    """Check ``keep_completed`` and ``keep_failed``; raise naming the bad one."""
    values = []
    for value, what in ((keep_completed, "keep_completed"), (keep_failed, "keep_failed")):
        try:
            values.append(None if value is None else check_seconds(value, what))
        except ValueError as exc:
            raise ConfigurationError(f"{exc} ({where})") from None
    return Retention(*values)
