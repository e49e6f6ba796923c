"""Logging, on the standard :mod:`logging` module, under one hierarchy: ``conveyor.*``.

The loggers are ``conveyor.worker``, ``conveyor.queue``, ``conveyor.scheduler``,
``conveyor.retention``, ``conveyor.stores.*`` and ``conveyor.cli``.
Every change of a job's status logs one line at INFO (WARNING when a job failed for
good) with the job's fields as ``extra``: ``job_id``, ``job_name``, ``queue``,
``attempt``, ``status`` (the new one), and ``duration_ms``, ``retry_in``, ``error``
where they apply: enqueued (``conveyor.queue``; one line per ``enqueue_many`` call,
with ``count``), started and ended attempts (``conveyor.worker``), and what users ask
(cancel, retry, delete: ``conveyor.queue``; bulk operations one line with ``count``).
:class:`JsonFormatter` writes each record as one JSON object, those fields included,
for log pipelines.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from datetime import UTC, datetime
from typing import Literal

from .batched_log import BatchedStreamHandler

JOB_FIELDS = ("job_id", "job_name", "queue", "attempt", "status", "duration_ms", "retry_in",
              "error", "count")  # fmt: skip
"""The ``extra`` fields of a job's log records."""


def log_job(
    logger: logging.Logger, message: str, *args: object, level: int = logging.INFO, **fields: object
) -> None:
    """Log one line about a job (or jobs) with ``fields`` (of :data:`JOB_FIELDS`) as extra."""
    if logger.isEnabledFor(level):
        logger.log(level, message, *args, extra=fields)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message, job fields."""

    def format(self, record: logging.LogRecord) -> str:
        """Return ``record`` as a line of JSON."""
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in JOB_FIELDS:
            if name in record.__dict__:
                data[name] = record.__dict__[name]
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    """``asctime level logger: message``, the date and time of each second made once.

    The lines are the standard :class:`logging.Formatter`'s (local time, then ``,``
    and the milliseconds); a busy worker logs thousands of lines a second, and
    ``time.strftime`` was two thirds of the cost of formatting each one.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
        self._second: tuple[int, str] = (-1, "")
        """The last second formatted, and its text (one attribute: threads share it)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Return the record's local time as the standard formatter writes it."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached, text = self._second
        if cached != second:
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = (second, text)
        return f"{text},{int(record.msecs):03d}"


def configure_logging(level: str, style: Literal["text", "json"] = "text") -> None:
    """Send log records of ``level`` and above to stderr, as text or JSON lines.

    Lines below WARNING are written in batches, at most 0.1 s late
    (:class:`~conveyor.batched_log.BatchedStreamHandler`), and records skip what
    neither format shows (thread, process, source file and line: Python's logging
    HOWTO, "Optimization"): two lines a job cost a busy worker half as much.
    """
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None
    if hasattr(logging, "logAsyncioTasks"):  # Python 3.12+: the task's name
        setattr(logging, "logAsyncioTasks", False)  # noqa: B010
    handler = BatchedStreamHandler(sys.stderr)
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler])
