"""The job module that the benchmark's worker processes load.

    CONVEYOR_URL=sqlite:///... BENCH_QUEUE=bench-1234 BENCH_SINK=/tmp/x.sink \
        python -m conveyor worker bench_jobs:queue --concurrency 10      # cwd = bench/

Every job is a no-op whose first act is ``time.time()``; it appends one line
``<tag> <start time>`` to the file ``BENCH_SINK`` names (one ``O_APPEND`` write per
line, atomic across processes), which is how ``store_bench.py`` learns when each job
started. ``BENCH_SINK`` unset: the job records nothing (RSS / idle measurements). The worker's
per-job INFO lines are off unless ``BENCH_JOB_LOGS=1`` (``store_bench.py --only
drain-logs``).

``nap`` (``workload_bench.py``) stands for a job that waits on I/O: it awaits
``asyncio.sleep(payload["s"])``, then appends ``<tag> <start time> <end time>``: the
lines of 20 ms go out in one write.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import time

from conveyor import create_queue

# Thousands of jobs a second: a log line each would be what the benchmark measures.
# BENCH_JOB_LOGS=1 keeps them, as `conveyor worker` writes them by default (drain-logs).
if not os.environ.get("BENCH_JOB_LOGS"):
    logging.getLogger("conveyor.worker").setLevel(logging.WARNING)
    logging.getLogger("conveyor.queue").setLevel(logging.WARNING)

queue = create_queue(
    workers=10,
    url=os.environ.get("CONVEYOR_URL"),
    name=os.environ.get("BENCH_QUEUE", "bench"),
)

_sink: list[int] = []


def _record(line: bytes) -> None:
    """Append ``line`` to the file ``BENCH_SINK`` names, if set (one write, atomic)."""
    path = os.environ.get("BENCH_SINK")
    if not path:
        return
    if not _sink:
        _sink.append(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    os.write(_sink[0], line)


@queue.handler("noop")
async def noop(job):
    started = time.time()
    _record(b"%d %.6f\n" % (job.payload["tag"], started))


_later: list[bytes] = []


def _flush() -> None:
    lines = b"".join(_later)
    _later.clear()
    if lines:
        _record(lines)


atexit.register(_flush)


@queue.handler("nap")
async def nap(job):
    started = time.time()
    await asyncio.sleep(job.payload["s"])
    line = b"%d %.6f %.6f\n" % (job.payload["tag"], started, time.time())
    # One write per 20 ms rather than per job: each write lets go of the GIL, and with
    # thousands of jobs a second the handoffs to the store's threads cost more than the
    # job itself (on SQLite: ~50 us a write).
    if not _later:
        asyncio.get_running_loop().call_later(0.02, _flush)
    _later.append(line)


# cron_bench.py: BENCH_SCHEDULES schedules, of which the first BENCH_TICKING tick every
# second; the others on 29 February at spread times (registered, never due in a run).
_TICKING = int(os.environ.get("BENCH_TICKING", "0"))
for _i in range(int(os.environ.get("BENCH_SCHEDULES", "0"))):
    _every = "* * * * * *" if _i < _TICKING else f"{_i % 60} {_i // 60 % 24} 29 2 *"
    queue.cron("noop", _every, key=f"s{_i}")
