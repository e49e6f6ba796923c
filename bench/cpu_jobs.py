"""The job module of ``processes_bench.py``: a plain handler that burns CPU in pure Python.

    CONVEYOR_URL=sqlite:///... BENCH_QUEUE=cpu-1234 BENCH_SINK=/tmp/x.sink \
        python -m conveyor worker cpu_jobs:queue --processes 2     # cwd = bench/

``spin`` is a plain ``def``, so it runs on the worker's thread pool: with the GIL, the
threads of one process share one core however many there are. It runs
``burn(payload["loops"])`` (the benchmark calibrates ``loops`` to ~5 ms) and appends
``<start> <end> <pid> <process CPU>`` to the file ``BENCH_SINK`` names, one ``O_APPEND``
write per job; the last is ``time.process_time()`` at the end: CPU seconds of every
thread of the process so far.
"""

from __future__ import annotations

import logging
import os
import time

from conveyor import create_queue

# Hundreds of jobs a second: a log line each would be part of what is measured.
logging.getLogger("conveyor.worker").setLevel(logging.WARNING)
logging.getLogger("conveyor.queue").setLevel(logging.WARNING)

queue = create_queue(
    workers=2,
    url=os.environ.get("CONVEYOR_URL"),
    name=os.environ.get("BENCH_QUEUE", "cpu"),
)

_sink: list[int] = []


def burn(loops: int) -> int:
    """Pure-Python CPU work: ``loops`` rounds of integer arithmetic."""
    total = 0
    for i in range(loops):
        total += i * i % 7
    return total


@queue.handler("spin", timeout=60, max_retries=0)
def spin(job):
    started = time.time()
    burn(job.payload["loops"])
    ended = time.time()
    if not _sink:
        _sink.append(os.open(os.environ["BENCH_SINK"], os.O_WRONLY | os.O_APPEND | os.O_CREAT))
    line = b"%.6f %.6f %d %.6f\n" % (started, ended, os.getpid(), time.process_time())
    os.write(_sink[0], line)
