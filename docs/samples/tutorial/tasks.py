"""The tutorial's jobs: one queue and one handler, imported by every process."""

import asyncio

from conveyor import Job, create_queue

queue = create_queue()  # CONVEYOR_URL, or else the SQLite file conveyor.db here


@queue.handler("send-welcome", max_retries=3, timeout=30)
async def send_welcome(job: Job) -> dict[str, str]:
    """Pretend to e-mail a new user."""
    await asyncio.sleep(0.5)  # stands for talking to a mail server
    return {"sent_to": job.payload["email"]}
