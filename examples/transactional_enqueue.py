"""Transactional enqueue on PostgreSQL: a job exists if and only if its transaction commits.

An order and the job that e-mails its receipt are written in one transaction of the
application's own connection. If anything fails before the commit, neither exists: no
receipt for an order that was never placed, and no order without its receipt.

Run it against a PostgreSQL server (conveyor's tables go in the ``conveyor`` schema, or
the one named by ``?schema=`` in the URL)::

    export CONVEYOR_URL=postgresql://postgres@127.0.0.1:5432/postgres
    python examples/transactional_enqueue.py
"""

from __future__ import annotations

import asyncio
import os

import psycopg

from conveyor import Job, create_queue

URL = os.environ.get("CONVEYOR_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
DSN = URL.split("?", 1)[0]  # the application's own connection: the same database
SCHEMA = "shop_" + os.environ.get("EXAMPLE_SCHEMA_SUFFIX", "example")

queue = create_queue(workers=2, url=URL)


@queue.handler("send-receipt")
async def send_receipt(job: Job) -> str:
    """Pretend to e-mail a receipt."""
    return f"receipt for order {job.payload['order_id']} sent to {job.payload['email']}"


def place_order(conn: psycopg.Connection, email: str, *, fail: bool = False) -> str | None:
    """Insert an order and enqueue its receipt in one transaction; return the job id.

    Plain blocking code, as in a Flask or Django view: ``queue.sync`` needs no loop.
    """
    job_id = None
    try:
        with conn.transaction():
            row = conn.execute(
                f"INSERT INTO {SCHEMA}.orders (email) VALUES (%s) RETURNING id", (email,)
            ).fetchone()
            assert row is not None
            job_id = queue.sync.enqueue(
                "send-receipt", {"order_id": row[0], "email": email}, connection=conn
            )
            if fail:
                raise RuntimeError("payment declined")
            return job_id
    except RuntimeError as exc:
        print(f"order for {email} rolled back ({exc}): job {job_id} was never stored")
        return None


async def run_worker(job_id: str) -> None:
    """Run the worker until the receipt job is done, then show the queue."""
    await queue.start()
    job = await queue.wait(job_id, timeout=10)
    print(f"job {job.id}: {job.status.value}: {job.result}")
    stats = await queue.get_stats()
    print(f"jobs in the queue: {stats.total} (completed={stats.completed})")
    await queue.close()


def main() -> None:
    """Place one order that commits and one that rolls back, then run the worker."""
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {SCHEMA}.orders (id serial PRIMARY KEY, email text)"
        )
        placed = place_order(conn, "ada@example.com")
        declined = place_order(conn, "bob@example.com", fail=True)
    if placed is None or declined is not None:
        raise SystemExit("the committed order should have a job, the rolled back one none")
    try:
        asyncio.run(run_worker(placed))
    finally:
        queue.sync.close()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {SCHEMA} CASCADE")


if __name__ == "__main__":
    main()
