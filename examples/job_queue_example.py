"""conveyor's standalone example: four kinds of background jobs, events, retries, stats.

Run it from a clone of the repository:

    python examples/job_queue_example.py

Jobs live in the store that ``CONVEYOR_URL`` names (default: the embedded SQLite file
``conveyor.db`` in the current folder). The example enqueues emails, image processing
(with progress), reports (one fails once, then succeeds on retry), database backups
(one fails for good), a delayed job and mixed priorities; it prints every lifecycle
event, then each job's result and the queue's final stats, and exits in a few seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import sys
import time
from datetime import UTC, datetime
from typing import Any

from conveyor import Job, JobPriority, JobStatus, create_queue

# A queue name of its own for every run, so the final stats count this run's jobs only
# (the default store is a file that outlives the process).
QUEUE_NAME = f"example-{datetime.now(UTC):%Y%m%d-%H%M%S-%f}"
queue = create_queue(workers=4, name=QUEUE_NAME)
began = time.monotonic()


def say(message: str) -> None:
    print(f"{time.monotonic() - began:5.2f}s  {message}", flush=True)


def label(job: Job) -> str:
    return f"{job.name:<15} {job.id[-6:]}"


# -- handlers ----------------------------------------------------------------------------


@queue.handler("send-email", max_retries=2, timeout=10)
async def send_email(job: Job) -> dict[str, Any]:
    """Pretend to talk to an SMTP server."""
    await asyncio.sleep(random.uniform(0.05, 0.15))
    return {"sent": True, "to": job.payload["to"], "subject": job.payload["subject"]}


@queue.handler("process-image", timeout=20)
async def process_image(job: Job) -> dict[str, Any]:
    """Resize an image to several sizes, reporting progress after each one."""
    sizes = job.payload.get("sizes", [128, 512, 1024])
    done = []
    for index, size in enumerate(sizes, start=1):
        await asyncio.sleep(0.1)
        done.append(f"{job.payload['image'].rsplit('.', 1)[0]}-{size}.webp")
        await job.progress(100 * index / len(sizes), f"resized to {size}px")
    return {"thumbnails": done}


@queue.handler("generate-report", max_retries=2, retry_delay=0.3)
def generate_report(job: Job) -> dict[str, Any]:
    """A plain (blocking) function: it runs in a thread pool, never on the event loop.

    The "flaky" report's data source is busy on the first attempt: the attempt fails,
    and the job is retried after ``retry_delay`` seconds.
    """
    time.sleep(0.2)
    if job.payload.get("flaky") and job.attempts == 1:
        raise ConnectionError("analytics database busy, try again")
    rows = 100 * len(job.payload["report"])
    return {"report": job.payload["report"], "rows": rows}


@queue.handler("backup-database", max_retries=1, retry_delay=0.2, timeout=30)
async def backup_database(job: Job) -> dict[str, Any]:
    """Dump a database; a database that does not exist fails every attempt."""
    database = job.payload["database"]
    if database.startswith("missing"):
        raise FileNotFoundError(f"database {database!r} does not exist")
    await asyncio.sleep(0.3)
    digest = hashlib.sha256(database.encode()).hexdigest()[:12]
    return {"database": database, "file": f"backups/{database}-{digest}.sql.gz"}


# -- events ------------------------------------------------------------------------------

queue.on("queue:started", lambda q: say(f"queue {q.name!r} started on {q.url}"))
queue.on("queue:stopped", lambda q: say(f"queue {q.name!r} stopped"))
queue.on("job:started", lambda job: say(f"{label(job)} started (attempt {job.attempts})"))
queue.on(
    "job:progress",
    lambda job: say(f"{label(job)} progress {job.progress_percent:.0f}% {job.progress_message}"),
)
queue.on("job:retrying", lambda job: say(f"{label(job)} retrying after: {job.error}"))
queue.on("job:completed", lambda job: say(f"{label(job)} completed"))
queue.on("job:failed", lambda job: say(f"{label(job)} failed for good: {job.error}"))


# -- the run -----------------------------------------------------------------------------


async def enqueue_examples() -> list[str]:
    ids = [
        await queue.enqueue(
            "send-email",
            {"to": "ceo@example.com", "subject": "Quarterly numbers"},
            priority=JobPriority.CRITICAL,
        ),
        await queue.enqueue("send-email", {"to": "user@example.com", "subject": "Welcome!"}),
        await queue.enqueue(
            "send-email",
            {"to": "newsletter@example.com", "subject": "Weekly digest"},
            priority=JobPriority.LOW,
        ),
        await queue.enqueue("process-image", {"image": "cat.png"}, priority=JobPriority.HIGH),
        await queue.enqueue("process-image", {"image": "dog.jpg", "sizes": [64, 256]}),
        await queue.enqueue("generate-report", {"report": "sales-2026-10"}),
        await queue.enqueue(
            "generate-report", {"report": "traffic-2026-10", "flaky": True}, priority=2
        ),
        await queue.enqueue("backup-database", {"database": "users"}, priority=JobPriority.LOW),
        await queue.enqueue("backup-database", {"database": "missing-orders"}),
        # A delayed job: it does not run before 1.5 s from now.
        await queue.schedule(
            "send-email", {"to": "later@example.com", "subject": "Reminder"}, delay=1.5
        ),
    ]
    say(f"enqueued {len(ids)} jobs (one of them delayed by 1.5 s)")
    return ids


async def main() -> int:
    ids = await enqueue_examples()
    await queue.start()
    try:
        jobs = [await queue.wait(job_id, timeout=30) for job_id in ids]
    finally:
        await queue.stop(timeout=10)

    print("\nresults:")
    for job in jobs:
        outcome = job.result if job.status is JobStatus.COMPLETED else job.error
        print(f"  {label(job)} {job.status.value:<9} attempts={job.attempts} {outcome}")

    stats = await queue.get_stats()
    await queue.close()
    print(
        f"\nfinal stats: completed={stats.completed} failed={stats.failed}"
        f" pending={stats.pending} scheduled={stats.scheduled}"
        f" processing={stats.processing} cancelled={stats.cancelled}"
        f" ({time.monotonic() - began:.1f}s)"
    )
    unfinished = stats.pending + stats.scheduled + stats.processing
    return 1 if unfinished else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
