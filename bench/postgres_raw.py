"""Raw PostgreSQL driver figures: psycopg 3 (async) beside asyncpg, no conveyor code.

    .venv/bin/pip install asyncpg      # only for this comparison
    .venv/bin/python bench/postgres_raw.py --reps 3
    .venv/bin/python bench/postgres_raw.py --url postgresql://postgres@127.0.0.1/postgres --n 5000

Each repetition runs, for each driver, on a table shaped like conveyor's job table (in
a schema of its own, dropped at the end), with server-side prepared statements:

- ``insert``: N single-row ``INSERT``\\ s, each its own durable (autocommit) transaction,
  awaited one after the other. This is the ceiling for ``enqueue`` one at a time.
- ``claim+complete``: N jobs, each claimed alone (``UPDATE ... FOR UPDATE SKIP LOCKED
  RETURNING``) then completed (``UPDATE``): two round trips per job.
- ``batched claim``: N jobs claimed 100 at a time by one statement, then completed
  100 at a time by one ``UPDATE ... FROM unnest(...)``.

The summary gives the median (jobs/s) over the repetitions of each figure.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

SCHEMA = "bench_raw"
TABLE = f"{SCHEMA}.jobs"
CREATE = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {TABLE} (
    id text COLLATE "C" PRIMARY KEY, queue text NOT NULL, name text NOT NULL,
    payload bytea NOT NULL, status text NOT NULL, priority smallint NOT NULL,
    max_retries integer NOT NULL, retry_delay float8 NOT NULL, timeout float8,
    created_at timestamptz NOT NULL, run_at timestamptz NOT NULL,
    attempts integer NOT NULL DEFAULT 0, worker_id text, lease_expires_at timestamptz,
    result bytea
);
CREATE INDEX ON {TABLE} (queue, priority DESC, run_at, id) WHERE status = 'pending';
"""
INSERT = (
    f"INSERT INTO {TABLE} (id, queue, name, payload, status, priority, max_retries,"
    " retry_delay, timeout, created_at, run_at)"
    " VALUES ($1, 'q', 'noop', $2, 'pending', 1, 3, 1.0, 30.0, now(), now())"
)
CLAIM = f"""
UPDATE {TABLE} SET status = 'processing', attempts = attempts + 1, worker_id = 'w',
    lease_expires_at = now() + interval '30 seconds'
WHERE id IN (SELECT id FROM {TABLE} WHERE status = 'pending' AND queue = 'q'
             ORDER BY priority DESC, run_at, id LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id, payload, attempts
"""
COMPLETE = f"""
UPDATE {TABLE} SET status = 'completed', result = $1, worker_id = NULL
WHERE id = ANY($2::text[]) AND status = 'processing' AND worker_id = 'w'
"""


def psycopg_sql(sql: str) -> str:
    """asyncpg's ``$1`` placeholders in psycopg's ``%s`` style (used in order here)."""
    for n in range(9, 0, -1):
        sql = sql.replace(f"${n}", "%s")
    return sql


class Psycopg:
    name = "psycopg"

    async def connect(self, url: str) -> None:
        self.conn = await psycopg.AsyncConnection.connect(url, autocommit=True)

    async def close(self) -> None:
        await self.conn.close()

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(psycopg_sql(sql), args, prepare=True, binary=True)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        cur = await self.conn.execute(psycopg_sql(sql), args, prepare=True, binary=True)
        return await cur.fetchall()


class Asyncpg:
    name = "asyncpg"

    async def connect(self, url: str) -> None:
        import asyncpg

        self.conn = await asyncpg.connect(url)

    async def close(self) -> None:
        await self.conn.close()

    async def execute(self, sql: str, *args: Any) -> None:
        await self.conn.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self.conn.fetch(sql, *args)]


Driver = Psycopg | Asyncpg


async def fill(driver: Driver, n: int, tag: str) -> None:
    for i in range(n):
        await driver.execute(INSERT, f"{tag}{i:012d}", b'{"i":%d}' % i)


async def m_insert(driver: Driver, n: int, tag: str) -> float:
    await driver.execute(INSERT, f"{tag}-warm", b"{}")
    t0 = time.perf_counter()
    await fill(driver, n, tag)
    return n / (time.perf_counter() - t0)


async def m_claim_complete(driver: Driver, n: int, tag: str) -> float:
    await fill(driver, n, tag)
    t0 = time.perf_counter()
    done = 0
    while rows := await driver.fetch(CLAIM, 1):
        await driver.execute(COMPLETE, b"null", [rows[0][0]])
        done += 1
    assert done >= n, done
    return done / (time.perf_counter() - t0)


async def m_batched(driver: Driver, n: int, tag: str) -> float:
    await fill(driver, n, tag)
    t0 = time.perf_counter()
    done = 0
    while rows := await driver.fetch(CLAIM, 100):
        await driver.execute(COMPLETE, b"null", [row[0] for row in rows])
        done += len(rows)
    assert done >= n, done
    return done / (time.perf_counter() - t0)


MEASURES: dict[str, Callable[[Driver, int, str], Awaitable[float]]] = {
    "insert (1 durable txn each)": m_insert,
    "claim+complete (1 job, 2 round trips)": m_claim_complete,
    "batched claim+complete (100 a time)": m_batched,
}


async def main(args: argparse.Namespace) -> None:
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(CREATE)  # type: ignore[arg-type]
    results: dict[tuple[str, str], list[float]] = {}
    try:
        for rep in range(args.reps):
            for measure, run in MEASURES.items():
                for driver in (Psycopg(), Asyncpg()):
                    with psycopg.connect(args.url, autocommit=True) as admin:
                        admin.execute(f"TRUNCATE {TABLE}")  # type: ignore[arg-type]
                    await driver.connect(args.url)
                    try:
                        rate = await run(driver, args.n, f"{driver.name}{rep}")
                    finally:
                        await driver.close()
                    results.setdefault((measure, driver.name), []).append(rate)
                    print(f"rep {rep + 1} {measure:40} {driver.name:8} {rate:10,.0f} jobs/s")
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {SCHEMA} CASCADE")  # type: ignore[arg-type]
    print(f"\nmedians over {args.reps} repetition(s), N={args.n}, jobs/s")
    print(f"{'measure':40} {'psycopg':>10} {'asyncpg':>10} {'asyncpg/psycopg':>16}")
    for measure in MEASURES:
        pg = statistics.median(results[(measure, "psycopg")])
        apg = statistics.median(results[(measure, "asyncpg")])
        print(f"{measure:40} {pg:10,.0f} {apg:10,.0f} {apg / pg:16.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--reps", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
