"""What the dashboard's overview costs with a big store: ``get_stats`` latency.

    .venv/bin/python bench/stats_bench.py                          # SQLite, 1,000,000 jobs
    .venv/bin/python bench/stats_bench.py --url redis://127.0.0.1:6379/14
    .venv/bin/python bench/stats_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres

On a fresh store (a temp file, or a key prefix or schema of its own, removed at the
end) it enqueues ``--jobs`` jobs with ``enqueue_many`` in batches of 10,000, runs
``--finish`` of them to completion with a worker (so that several statuses hold jobs),
then calls ``get_stats`` ``--calls`` times, one at a time, and prints p50, p99 and max.
``--busy`` does the same while a worker drains a fresh backlog of 20,000 jobs (the
counts change under the reads).

Target (HTTP issue): the overview under 100 ms with a million jobs in the store.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from store_bench import Stores, pct

from conveyor import create_queue

DEFAULT_URL = "sqlite:///{dir}/stats.db"
BATCH = 10_000


async def stats_latency(queue_url: str, args: argparse.Namespace) -> dict[str, float]:
    queue = create_queue(url=queue_url, workers=20, name="stats")
    queue.register("noop", _noop)
    try:
        t0 = time.monotonic()
        for start in range(0, args.jobs, BATCH):
            size = min(BATCH, args.jobs - start)
            await queue.enqueue_many([("noop", {"n": start + i}) for i in range(size)])
        filled = time.monotonic() - t0
        if args.finish:
            completed, enough = 0, asyncio.Event()

            def count(job: object) -> None:
                nonlocal completed
                completed += 1
                if completed >= args.finish:
                    enough.set()

            queue.on("job:completed", count)
            await queue.start()
            await enough.wait()
            await queue.stop()
        if args.busy:
            await queue.start()
        timings = []
        for _ in range(args.calls):
            started = time.perf_counter()
            stats = await queue.get_stats()
            timings.append((time.perf_counter() - started) * 1000)
        if args.busy:
            await queue.stop(timeout=5)
        print(f"  filled {args.jobs:,} jobs in {filled:.1f} s; last stats: {stats}")
        return {
            "p50_ms": statistics.median(timings),
            "p99_ms": pct(timings, 99),
            "max_ms": max(timings),
        }
    finally:
        await queue.close()


async def _noop(job: object) -> None:
    return None


async def main_async(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="conveyor-stats-"))
    stores = Stores(args.url, root)
    url = stores.fresh("stats")
    try:
        figures = await stats_latency(url, args)
    finally:
        stores.drop(url)
    print(
        f"get_stats with {args.jobs:,} jobs ({stores.scheme}{', busy' if args.busy else ''}):"
        f" p50 {figures['p50_ms']:.2f} ms, p99 {figures['p99_ms']:.2f} ms,"
        f" max {figures['max_ms']:.2f} ms over {args.calls} calls"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="store URL ({dir}: a temp folder)")
    parser.add_argument("--jobs", type=int, default=1_000_000, help="jobs in the store")
    parser.add_argument("--finish", type=int, default=20_000, help="jobs run to completion")
    parser.add_argument("--calls", type=int, default=200, help="get_stats calls timed")
    parser.add_argument("--busy", action="store_true", help="time them while a worker runs")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
