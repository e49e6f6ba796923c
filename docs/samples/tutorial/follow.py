"""Enqueue jobs and follow them as workers on other machines run them (Redis, PostgreSQL)."""

import asyncio
import sys

from tasks import queue

from conveyor import Job


async def main(emails: list[str]) -> None:
    """Print each job's start and end as the workers' events arrive."""
    finished: list[str] = []
    all_done = asyncio.Event()

    def on_started(job: Job) -> None:
        print(f"{job.id} started")

    def on_completed(job: Job) -> None:
        print(f"{job.id} completed: {job.result}")
        finished.append(job.id)
        if len(finished) == len(emails):
            all_done.set()

    queue.on("job:started", on_started).on("job:completed", on_completed)
    async with queue:  # opens the store, and listens to other processes' events
        for email in emails:
            await queue.enqueue("send-welcome", {"email": email})
        await asyncio.wait_for(all_done.wait(), timeout=30)


asyncio.run(main(sys.argv[1:]))
