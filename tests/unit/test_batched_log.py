"""The command line's log handler: lines in batches, warnings at once, nothing lost."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from conveyor.batched_log import BatchedStreamHandler


@contextmanager
def batched(name: str, **options: float) -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """A logger whose one handler is a BatchedStreamHandler on a string; closed after."""
    stream = io.StringIO()
    handler = BatchedStreamHandler(stream, **options)  # type: ignore[arg-type]
    logger = logging.getLogger(f"test.batched.{name}")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield stream, logger
    finally:
        handler.close()


def test_info_lines_come_together_within_the_delay() -> None:
    with batched("delay", delay=0.05) as (stream, log):
        log.info("one")
        log.info("two")
        assert stream.getvalue() == ""  # kept, not written line by line
        deadline = time.monotonic() + 5
        while stream.getvalue() != "one\ntwo\n":
            assert time.monotonic() < deadline, stream.getvalue()
            time.sleep(0.01)
        log.info("three")  # a new batch after the last one was written
        while stream.getvalue() != "one\ntwo\nthree\n":
            assert time.monotonic() < deadline, stream.getvalue()
            time.sleep(0.01)


def test_a_warning_is_written_at_once_after_the_lines_before_it() -> None:
    with batched("warning", delay=60) as (stream, log):
        log.info("first")
        log.warning("careful")
        assert stream.getvalue() == "first\ncareful\n"


def test_many_lines_are_written_once_the_limit_is_reached() -> None:
    with batched("limit", delay=60, limit=100) as (stream, log):
        for i in range(30):
            log.info("line %02d", i)  # 8 characters each
        written = stream.getvalue().splitlines()
        assert 12 <= len(written) < 30
        assert written == [f"line {i:02d}" for i in range(len(written))]
    assert stream.getvalue().splitlines() == [f"line {i:02d}" for i in range(30)]


def test_a_process_that_exits_writes_what_waits() -> None:
    code = (
        "import logging, sys\n"
        "from conveyor.logs import configure_logging\n"
        "configure_logging('info')\n"
        "for i in range(3): logging.getLogger('conveyor.test').info('line %d', i)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert [line.rsplit(": ", 1)[-1] for line in done.stderr.splitlines()] == [
        "line 0", "line 1", "line 2",
    ]  # fmt: skip
