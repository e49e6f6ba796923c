"""Recurring jobs: a database backup every night, and a heartbeat every second.

Run it (the jobs go to ``CONVEYOR_URL``, default ``sqlite:///conveyor.db``)::

    python examples/recurring_jobs.py

It serves for three seconds (the heartbeat runs about three times; the backup waits
for 03:00 in Paris), then lists the schedules as ``conveyor schedules list`` would.
Start it in several terminals at once: each heartbeat still runs once.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

from conveyor import Job, create_queue

queue = create_queue(workers=2, url=os.environ.get("CONVEYOR_URL"))


@queue.handler("backup-database", timeout=3600)
async def backup_database(job: Job) -> str:
    """Pretend to dump the database to the target the schedule gives."""
    return f"backup of {job.config.scheduled_at:%Y-%m-%d} written to {job.payload['target']}"


@queue.handler("heartbeat")
def heartbeat(job: Job) -> None:
    """Say which tick this is."""
    print(f"heartbeat for {job.config.scheduled_at:%H:%M:%S}", flush=True)


queue.cron("backup-database", "0 3 * * *", {"target": "s3://backups/db"}, timezone="Europe/Paris")
queue.cron("heartbeat", timedelta(seconds=1))


async def main() -> None:
    async with queue:
        await queue.start()
        await asyncio.sleep(3.2)
        await queue.stop()
        for info in await queue.get_schedules():
            last = (
                f"last {info.last_run:%H:%M:%S} (job {info.last_job_id})" if info.last_run else ""
            )
            print(f"{info.key}: {info.schedule} ({info.timezone}), next {info.next_run} {last}")


if __name__ == "__main__":
    asyncio.run(main())
