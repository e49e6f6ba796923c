"""How closely a rate limit holds: starts per second of a handler limited to ``--rate``/s.

    .venv/bin/python bench/rate_bench.py                                   # SQLite, 100/s
    .venv/bin/python bench/rate_bench.py --url redis://127.0.0.1:6379/14
    .venv/bin/python bench/rate_bench.py --url postgresql://postgres@127.0.0.1:5432/postgres

On a fresh store it enqueues ``--rate`` x (``--seconds`` + 3) no-op jobs of a handler
with ``rate_limit=(rate, 1.0)``, starts ``--processes`` queue objects (each its own
store connections, as worker processes would be) of 10 workers, and records each
start's time. It prints the starts in each whole second after the first (the first
second holds the warm-up) over ``--seconds`` seconds, their mean, min and max, and the
overall rate. Target (flow issue): 100 ± 5 starts/s over 10 s.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from store_bench import Stores

from conveyor import Job, create_queue

DEFAULT_URL = "sqlite:///{dir}/rate.db"


async def measure(url: str, args: argparse.Namespace) -> list[int]:
    starts: list[float] = []

    async def noop(job: Job) -> None:
        starts.append(time.monotonic())

    queues = [create_queue(url=url, workers=10, name="rated") for _ in range(args.processes)]
    for queue in queues:
        queue.register("noop", noop, rate_limit=(args.rate, 1.0))
    try:
        total = args.rate * (args.seconds + 3)
        await queues[0].enqueue_many([("noop", {"n": n}) for n in range(total)])
        t0 = time.monotonic()
        for queue in queues:
            await queue.start()
        await asyncio.sleep(args.seconds + 2)
    finally:
        for queue in queues:
            await queue.close()
    return [sum(1 for t in starts if t0 + s <= t < t0 + s + 1) for s in range(1, args.seconds + 1)]


async def main_async(args: argparse.Namespace) -> None:
    stores = Stores(args.url, Path(tempfile.mkdtemp(prefix="conveyor-rate-")))
    url = stores.fresh("rate")
    try:
        per_second = await measure(url, args)
    finally:
        stores.drop(url)
    print(f"starts per second ({stores.scheme}, limit {args.rate}/s, {args.processes} queue"
          f" objects x 10 workers): {per_second}")  # fmt: skip
    print(f"mean {statistics.mean(per_second):.1f}/s, min {min(per_second)}, max"
          f" {max(per_second)}; {sum(per_second)} starts in {args.seconds} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=DEFAULT_URL, help="store URL ({dir}: a temp folder)")
    parser.add_argument("--rate", type=int, default=100, help="the limit, starts per second")
    parser.add_argument("--seconds", type=int, default=10, help="seconds measured")
    parser.add_argument("--processes", type=int, default=2, help="queue objects")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
