"""Run a job in this process: start workers, enqueue, wait for the result."""

import asyncio

from tasks import queue


async def main() -> None:
    """Enqueue one job and print how it ended."""
    await queue.start()  # this process's workers
    job_id = await queue.enqueue("send-welcome", {"email": "ada@example.com"})
    job = await queue.wait(job_id, timeout=10)  # until it completed, failed or was cancelled
    print(job.status.value, job.result)
    await queue.close()  # stop the workers, release the store


asyncio.run(main())
