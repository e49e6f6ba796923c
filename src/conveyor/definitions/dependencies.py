"""Jobs that wait for others: ``enqueue(..., depends_on=[ids])`` and ``queue.group``.

A job with dependencies is stored like any other, their ids in its headers. A worker
that claims it looks at them first: all completed, it runs (a group's final job gets
their results, in order, as its payload); one failed for good, cancelled or deleted,
it ends CANCELLED with that reason, without running (so nothing waits for ever);
otherwise it is postponed: back to SCHEDULED, its attempt given back, for a tenth of
the time it has waited so far (at least 0.05 s, at most :data:`MOST_WAIT` s).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import InvalidJobError
from ..job import JobStatus
from ..stores.base import JobStore

DEPENDS_ON = "conveyor-depends-on"
"""Header: the ids of the jobs this one waits for, as a JSON list."""
GATHER = "conveyor-gather"
"""Header: present on a group's final job, whose payload becomes the results."""
MOST_WAIT = 5.0
"""The longest postponement, in seconds."""
MOST_DEPENDENCIES = 10_000


@dataclass(frozen=True, slots=True)
class Verdict:
    """What to do with a claimed job that has dependencies."""

    wait: float | None = None
    """Postpone it this many seconds."""
    broken: str | None = None
    """Cancel it, for this reason."""
    results: list[Any] | None = None
    """Run it with these as its payload (a group's final job)."""


def check_depends_on(depends_on: object) -> list[str]:
    """Check ``enqueue(depends_on=...)``: a list of job ids."""
    if isinstance(depends_on, str) or not isinstance(depends_on, Sequence):
        raise InvalidJobError(f"depends_on must be a list of job ids, got {depends_on!r}")
    ids = list(depends_on)
    if not ids or len(ids) > MOST_DEPENDENCIES:
        raise InvalidJobError(f"depends_on takes 1 to {MOST_DEPENDENCIES:,} job ids")
    for job_id in ids:
        if not isinstance(job_id, str) or not job_id:
            raise InvalidJobError(f"depends_on must hold job ids (strings), got {job_id!r}")
    return ids


def dependency_headers(ids: Sequence[str], *, gather: bool = False) -> dict[str, str]:
    """Return the headers of a job that waits for ``ids``."""
    headers = {DEPENDS_ON: json.dumps(list(ids), separators=(",", ":"))}
    if gather:
        headers[GATHER] = "1"
    return headers


async def check(
    store: JobStore,
    headers: Mapping[str, str],
    waited: float,
    decode: Callable[[bytes], Any],
) -> Verdict:
    """Look at a claimed job's dependencies and say what to do with it."""
    ids = json.loads(headers[DEPENDS_ON])
    results: list[Any] = []
    for job_id in ids:
        record = await store.get(job_id)
        if record is None:
            return Verdict(broken=f"dependency {job_id} does not exist (deleted?)")
        if record.status in (JobStatus.FAILED, JobStatus.CANCELLED):
            return Verdict(broken=f"dependency {job_id} is {record.status.value}")
        if record.status is not JobStatus.COMPLETED:
            return Verdict(wait=min(max(waited / 10, 0.05), MOST_WAIT))
        results.append(None if record.result is None else decode(record.result))
    return Verdict(results=results if GATHER in headers else None)
