"""``create_queue``: a queue on the store a URL names, its settings checked."""

from __future__ import annotations

import os
from datetime import timedelta

from ..clock import Clock
from ..definitions.retention import check_retention
from ..definitions.settings import check_workers, config_seconds
from ..serializers import JSON, Serializer
from ..stores import store_from_url
from .queue import Queue

DEFAULT_URL = "sqlite:///conveyor.db"
"""The store of a queue made without a URL or ``CONVEYOR_URL``: a file in the working folder."""


def create_queue(
    workers: int = 4,
    url: str | None = None,
    *,
    name: str = "default",
    lease: float | timedelta = 30.0,
    serializer: Serializer | None = None,
    clock: Clock | None = None,
    keep_completed: float | timedelta | None = None,
    keep_failed: float | timedelta | None = None,
    age_after: float | timedelta | None = None,
) -> Queue:
    """Create a queue on the store that ``url`` names.

    ``url`` defaults to the ``CONVEYOR_URL`` environment variable, then to the embedded
    ``sqlite:///conveyor.db``. Nothing is opened until first use. ``keep_completed`` and
    ``keep_failed`` (seconds or ``timedelta``; default: for ever) are how long completed,
    and failed or cancelled, jobs are kept before started queues delete them.
    ``age_after`` (seconds or ``timedelta``; default: strict priority) turns on aging: a
    pending job that waited that long goes up one priority level (see
    :mod:`conveyor.runtime.aging`).

    >>> queue = create_queue(workers=4, url="memory://")
    """
    check_workers(workers)
    lease_seconds = config_seconds(lease, "lease")
    retention = check_retention(keep_completed, keep_failed, where=f"queue {name!r}")
    aging = None if age_after is None else config_seconds(age_after, "age_after")
    store = store_from_url(url or os.environ.get("CONVEYOR_URL") or DEFAULT_URL, clock)
    return Queue(store, name=name, workers=workers, lease=lease_seconds,
                 serializer=serializer or JSON, retention=retention, age_after=aging)  # fmt: skip
