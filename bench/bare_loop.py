"""The event loop alone: the realistic workload's jobs, with no job queue around them.

    .venv/bin/python bench/bare_loop.py                 # 20,000 x 10 ms at concurrency 200
    .venv/bin/python bench/bare_loop.py --n 20000 --concurrency 200 --job-ms 10
    .venv/bin/python bench/bare_loop.py --loop uvloop     # needs: pip install uvloop

``workload_bench.py --only bare`` runs it in a process of its own and prints its figure
beside conveyor's. Each job is a task of its own, as a job queue's worker runs it (arq,
SAQ, taskiq and conveyor all do): at most ``--concurrency`` at once, a new one started
as each ends, each awaiting ``asyncio.sleep(job_ms / 1000)``. No store, no claims, no
settles: what it reaches is the most a worker on that event loop could reach here.
Prints one JSON object: ``rate`` (N / (last end - first start), jobs/s), ``of_ideal``
(% of concurrency / job time) and the median and 99th percentile of a job's own
duration (``p50_ms``, ``p99_ms``: how late the loop wakes a sleep of ``job_ms``).
``--loop uvloop`` runs the same on uvloop's event loop instead of the standard one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time


async def drain(n: int, concurrency: int, job_s: float) -> dict[str, float]:
    """Run ``n`` sleeps of ``job_s``, ``concurrency`` at once, one task each; the figures."""
    slots = asyncio.Semaphore(concurrency)
    starts: list[float] = []
    ends: list[float] = []
    tasks: set[asyncio.Task[None]] = set()

    async def job() -> None:
        starts.append(time.time())
        await asyncio.sleep(job_s)
        ends.append(time.time())
        slots.release()

    for _ in range(n):
        await slots.acquire()
        task = asyncio.create_task(job())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    while tasks:
        await asyncio.wait(set(tasks))
    durations = sorted(end - start for start, end in zip(starts, ends, strict=True))
    rate = n / (max(ends) - min(starts))
    return {
        "rate": rate,
        "of_ideal": 100 * rate / (concurrency / job_s),
        "p50_ms": 1000 * durations[len(durations) // 2],
        "p99_ms": 1000 * durations[min(len(durations) - 1, len(durations) * 99 // 100)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000, help="jobs (default 20,000)")
    ap.add_argument("--concurrency", type=int, default=200, help="tasks at once (default 200)")
    ap.add_argument("--job-ms", type=float, default=10.0, help="each job's sleep (default 10)")
    ap.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio",
                    help="the event loop (default: the standard library's)")  # fmt: skip
    a = ap.parse_args()
    run = asyncio.run
    if a.loop == "uvloop":
        import uvloop  # an optional extra of the benchmark only

        run = uvloop.run
    print(json.dumps(run(drain(a.n, a.concurrency, a.job_ms / 1000))))


if __name__ == "__main__":
    main()
