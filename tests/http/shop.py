"""The queue of a small shop, whose jobs the dashboard's screenshots show.

Its handlers live here, not in the test, so that a traceback in a picture names an
application's module and handler.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta
from typing import Any

from conveyor import Job, Queue, create_queue


class CardDeclinedError(Exception):
    """What a payment provider answers when it refuses a charge."""


def make_shop(url: str, gate: threading.Event) -> Queue:
    """A queue of a small shop: emails, payments, reports, an inventory sync, schedules."""
    queue = create_queue(url=url, name="default", workers=2)

    @queue.handler("send-email")
    async def send_email(job: Job) -> dict[str, Any]:
        await asyncio.sleep(0.02)
        return {"sent": True, "to": job.payload["to"]}

    @queue.handler("charge-card", max_retries=0)
    async def charge_card(job: Job) -> None:
        await asyncio.sleep(0.01)
        card, reason = job.payload["card"], job.payload["reason"]
        raise CardDeclinedError(f"card ending {card} declined: {reason}")

    @queue.handler("sync-inventory", max_retries=3, retry_delay=600)
    async def sync_inventory(job: Job) -> None:
        raise ConnectionError("warehouse API answered 503 Service Unavailable")

    @queue.handler("generate-report", timeout=120)
    def generate_report(job: Job) -> dict[str, int]:
        job.sync.progress(60, "rendering page 3 of 5")
        gate.wait(60)
        return {"pages": 5}

    queue.register("send-newsletter", lambda job: None)
    queue.register("backup-database", lambda job: None, timeout=3600)
    queue.register("weekly-report", lambda job: None)
    queue.register("ping-upstream", lambda job: "pong")
    queue.cron("backup-database", "0 3 * * *", {"target": "s3://backups"},
               timezone="Europe/Paris")  # fmt: skip
    queue.cron("weekly-report", "0 8 * * 1", timezone="America/New_York")
    queue.cron("ping-upstream", timedelta(seconds=2))
    return queue
