"""What recurring schedules cost a worker process, and how late their ticks fire.

    .venv/bin/python bench/cron_bench.py                          # SQLite, 3 reps
    .venv/bin/python bench/cron_bench.py --url redis://127.0.0.1:6379/14
    .venv/bin/python bench/cron_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres

Each repetition, on fresh stores:

- ``idle``: a ``conveyor worker`` process with no schedules, then one with
  ``--schedules`` (1,000) registered schedules none of which is due; each idles
  ``--idle-s`` seconds after it started serving. The figure is the CPU the schedules
  add, in % of one core (with minus without).
- ``lateness``: a worker with the same 1,000 schedules of which ``--ticking`` (10) tick
  every second, for ``--ticks`` seconds. Per tick job: ``created_at - scheduled_at``
  (when the scheduler stored it, on the store's clock, minus the tick's time); p50,
  p99 and max. The run fails if a tick got two jobs or a second of the run none.

Targets (cron issue): under 1 % of one core added; every tick within 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from store_bench import Stores, WorkerProcess, pct

from conveyor import JobStatus, create_queue

DEFAULT_URL = "sqlite:///{dir}/cron.db"


async def idle_cpu(stores: Stores, args: argparse.Namespace, root: Path, schedules: int) -> float:
    url = stores.fresh("idle")
    log = Path(tempfile.mkstemp(".idle.log", dir=root)[1])
    worker = WorkerProcess(url, "cron-idle", 10, None, log, BENCH_SCHEDULES=str(schedules))
    try:
        await worker.ready(args.timeout)
        await asyncio.sleep(2.0)  # past registration and the first reads
        cpu0, t0 = worker.cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.idle_s)
        cpu1, t1 = worker.cpu_seconds(), time.monotonic()
    finally:
        worker.stop()
        stores.drop(url)
    return 100 * (cpu1 - cpu0) / (t1 - t0)


async def lateness(stores: Stores, args: argparse.Namespace, root: Path) -> dict[str, float]:
    url = stores.fresh("late")
    log = Path(tempfile.mkstemp(".late.log", dir=root)[1])
    worker = WorkerProcess(
        url, "cron-late", 10, None, log,
        BENCH_SCHEDULES=str(args.schedules), BENCH_TICKING=str(args.ticking),
    )  # fmt: skip
    try:
        await worker.ready(args.timeout)
        began = time.time()
        await asyncio.sleep(args.ticks + 0.5)
        ended = time.time()
    finally:
        worker.stop()
    queue = create_queue(url=url, name="cron-late")
    try:
        jobs = []
        for status in (JobStatus.COMPLETED, JobStatus.PENDING, JobStatus.PROCESSING):
            jobs += await queue.get_jobs_by_status(status, limit=100_000)
    finally:
        await queue.close()
        stores.drop(url)
    late_ms, per_tick = [], Counter()
    for job in jobs:
        assert job.config.scheduled_at is not None
        tick = job.config.scheduled_at.timestamp()
        per_tick[tick] += 1
        late_ms.append((job.created_at.timestamp() - tick) * 1000)
    doubled = {tick: n for tick, n in per_tick.items() if n > args.ticking}
    if doubled:
        raise RuntimeError(f"ticks with more jobs than schedules: {doubled}")
    seconds = [
        t for t in range(int(began) + 2, int(ended) - 1) if per_tick[float(t)] != args.ticking
    ]
    if seconds:
        raise RuntimeError(f"seconds whose ticks did not all fire: {seconds}")
    return {
        "late_p50": statistics.median(late_ms),
        "late_p99": pct(late_ms, 99),
        "late_max": max(late_ms),
        "tick_jobs": len(jobs),
    }


async def main_async(args: argparse.Namespace) -> int:
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="cron-bench-") as folder:
        root = Path(folder)
        stores = Stores(args.url, root)
        for rep in range(args.reps):
            base = await idle_cpu(stores, args, root, 0)
            loaded = await idle_cpu(stores, args, root, args.schedules)
            figures = {"idle_base": base, "idle_with": loaded, "idle_added": loaded - base}
            figures.update(await lateness(stores, args, root))
            for name, value in figures.items():
                rows.setdefault(name, []).append(value)
            print(f"rep {rep + 1}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()),
                  flush=True)  # fmt: skip
    labels = {
        "idle_base": ("idle worker CPU, no schedules", "% of a core", None),
        "idle_with": (f"idle worker CPU, {args.schedules:,} schedules", "% of a core", None),
        "idle_added": ("CPU the schedules add", "% of a core", 1.0),
        "late_p50": ("tick -> job stored, p50", "ms", None),
        "late_p99": ("tick -> job stored, p99", "ms", None),
        "late_max": ("tick -> job stored, max", "ms", 100.0),
        "tick_jobs": ("tick jobs per run", "jobs", None),
    }
    failed = False
    print(f"\n{args.url}: medians of {args.reps} rep(s) [min-max]")
    for name, (label, unit, limit) in labels.items():
        values = rows[name]
        median = statistics.median(values)
        verdict = ""
        if limit is not None:
            ok = median < limit
            failed |= not ok
            verdict = f"target < {limit:g}: {'PASS' if ok else 'FAIL'}"
        print(f"  {label:<36} {median:9.2f} {unit:<12} [{min(values):.2f}-{max(values):.2f}]"
              f"  {verdict}")  # fmt: skip
    return 1 if failed else 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default=DEFAULT_URL, help=f"store URL (default {DEFAULT_URL})")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--schedules", type=int, default=1000, help="registered schedules")
    ap.add_argument("--ticking", type=int, default=10, help="of them, ticking every second")
    ap.add_argument("--ticks", type=int, default=10, help="seconds of the lateness run")
    ap.add_argument("--idle-s", type=float, default=20.0, help="seconds of idle CPU measured")
    ap.add_argument("--timeout", type=float, default=60.0)
    return asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
