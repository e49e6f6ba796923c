"""The command line's text log lines: the standard formatter's, each second formatted once."""

from __future__ import annotations

import logging
import random
import sys
import time

from conveyor.logs import TextFormatter

STANDARD = logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def record_at(created: float, level: int = logging.INFO) -> logging.LogRecord:
    record = logging.LogRecord("conveyor.worker", level, "x.py", 1, "job %s done", ("j1",), None)
    record.created = created
    record.msecs = (created - int(created)) * 1000
    return record


def test_lines_match_the_standard_formatter_across_seconds_and_days() -> None:
    formatter = TextFormatter()
    rng = random.Random(7)
    start = time.time()
    # Runs of records within a second, then jumps (back in time too: other threads).
    times = [start + i * 0.0003 for i in range(5000)]
    times += [rng.uniform(0, 4e9) for _ in range(2000)]
    times += [start, start - 1, start]
    for created in times:
        record = record_at(created)
        assert formatter.format(record) == STANDARD.format(record_at(created))


def test_a_date_format_of_its_own_and_exceptions_still_work() -> None:
    formatter = TextFormatter()
    record = record_at(1_800_000_000.25)
    assert formatter.formatTime(record, "%Y") == STANDARD.formatTime(record, "%Y")
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("x", logging.ERROR, "x.py", 1, "failed", (), sys.exc_info())
    assert formatter.format(failed).endswith("ValueError: boom")
    assert formatter.format(failed).split(" ", 2)[2].startswith("ERROR   x: failed\nTraceback")
