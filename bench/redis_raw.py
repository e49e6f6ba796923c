"""Raw redis.asyncio round trips: the reference rate for enqueue-one-at-a-time on Redis.

    .venv/bin/python bench/redis_raw.py                      # PING, SET, EVALSHA...; 3 reps
    .venv/bin/python bench/redis_raw.py --url redis://127.0.0.1:6379/14 --n 20000

Each figure is N commands awaited one after the other on one client (the same
redis-py client options the Redis store uses), after a warm-up: PING; SET of a job-sized
value (~300 bytes, a new key each time); EVALSHA of a one-line script that does that
same SET; and that SET again on the store's own command path (``_conn.Connections``:
a free list of connections, hiredis packing, no redis-py client layer), which the
store's enqueue also takes. Prints the median over the repetitions and the min-max
spread, in round trips/s. Keys are written under ``{bench-raw-<random>}:`` and deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable

import redis.asyncio

from conveyor.stores.redis import RedisStore

SET_SCRIPT = "return redis.call('SET', KEYS[1], ARGV[1])"
VALUE = b"x" * 300


async def rate(n: int, one: Callable[[int], Awaitable[object]]) -> float:
    for i in range(100):
        await one(-i - 1)
    t0 = time.perf_counter()
    for i in range(n):
        await one(i)
    return n / (time.perf_counter() - t0)


async def main_async(args: argparse.Namespace) -> None:
    client: redis.asyncio.Redis = RedisStore(args.url)._new_client()
    tag = "{bench-raw-" + uuid.uuid4().hex[:8] + "}"
    sha = await client.script_load(SET_SCRIPT)
    lean = RedisStore(args.url)._new_connections()
    measures: dict[str, Callable[[int], Awaitable[object]]] = {
        "PING": lambda i: client.ping(),
        "SET": lambda i: client.set(f"{tag}:{i}", VALUE),
        "EVALSHA (SET)": lambda i: client.evalsha(sha, 1, f"{tag}:{i}", VALUE),
        "SET (store path)": lambda i: lean.execute("SET", f"{tag}:{i}", VALUE),
    }
    results: dict[str, list[float]] = {name: [] for name in measures}
    try:
        for _ in range(args.reps):
            for name, one in measures.items():
                results[name].append(await rate(args.n, one))
    finally:
        async for key in client.scan_iter(match=f"{tag}*", count=1000):
            await client.delete(key)
        await client.aclose()
        await lean.aclose()
    print(f"{'round trip':<16} {'median/s':>10}   min-max ({args.reps} reps, n={args.n:,})")
    for name, values in results.items():
        print(f"{name:<16} {statistics.median(values):>10,.0f}   "
              f"{min(values):,.0f}-{max(values):,.0f}")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--url", default="redis://127.0.0.1:6379/14", help="the Redis server")
    ap.add_argument("--n", type=int, default=10_000, help="round trips per measure")
    ap.add_argument("--reps", type=int, default=3, help="repetitions; the summary gives medians")
    asyncio.run(main_async(ap.parse_args()))


if __name__ == "__main__":
    main()
