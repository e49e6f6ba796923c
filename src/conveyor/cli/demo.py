"""``conveyor demo``: a worker pool running example jobs on the embedded default store."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime
from typing import Any

import click

from ..client.create import create_queue
from ..job import Job, JobPriority


async def run_demo(url: str | None, count: int) -> None:
    """Enqueue a mixed batch of example jobs, run them, and print what happens."""
    name = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    queue = create_queue(workers=4, url=url, name=name)
    began = time.monotonic()

    def say(job: Job, what: str, color: str) -> None:
        stamp = f"{time.monotonic() - began:6.2f}s"
        label = f"{job.name:<14} {job.id[-6:]}"
        click.echo(f"{stamp}  {label}  " + click.style(what, fg=color))

    @queue.handler("send-email")
    async def send_email(job: Job) -> dict[str, Any]:
        await asyncio.sleep(random.uniform(0.05, 0.2))
        return {"sent": True, "to": job.payload["to"]}

    @queue.handler("resize-image")
    async def resize_image(job: Job) -> dict[str, Any]:
        for step in range(1, 5):
            await asyncio.sleep(0.25)
            await job.progress(step * 25, f"resized {step} of 4 sizes")
        return {"sizes": [64, 128, 256, 512]}

    @queue.handler("build-report", max_retries=3, retry_delay=0.3)
    def build_report(job: Job) -> dict[str, Any]:
        time.sleep(0.2)
        if job.attempts < 3:
            raise ConnectionError(f"warehouse busy (attempt {job.attempts})")
        return {"rows": 1234}

    @queue.handler("sync-crm", max_retries=1, retry_delay=0.2)
    async def sync_crm(job: Job) -> None:
        raise RuntimeError("CRM rejected the API key")

    queue.on("job:started", lambda job: say(job, f"started (attempt {job.attempts})", "cyan"))
    queue.on("job:progress", lambda job: say(job, f"{job.progress_percent:.0f}%", "blue"))
    queue.on("job:retrying", lambda job: say(job, f"retrying after: {job.error}", "yellow"))
    queue.on("job:completed", lambda job: say(job, f"completed: {job.result}", "green"))
    queue.on("job:failed", lambda job: say(job, f"failed for good: {job.error}", "red"))

    click.echo(f"conveyor demo: queue {name!r} on {queue.url}, 4 workers\n")
    ids = await _enqueue_examples(queue, count)
    await queue.start()
    try:
        for job_id in ids:
            await queue.wait(job_id, timeout=60)
    finally:
        await queue.stop()
    stats = await queue.get_stats()
    await queue.close()
    click.echo(
        f"\nfinished in {time.monotonic() - began:.1f}s: {stats.completed} completed,"
        f" {stats.failed} failed, {stats.cancelled} cancelled"
        f" (pending {stats.pending}, scheduled {stats.scheduled})"
    )


async def _enqueue_examples(queue: Any, count: int) -> list[str]:
    specs: list[tuple[str, Any, dict[str, Any]]] = [
        ("build-report", {"month": "2026-10"}, {"priority": JobPriority.HIGH}),
        ("sync-crm", {"account": 42}, {}),
        ("resize-image", {"image": "cat.png"}, {"priority": JobPriority.LOW}),
        ("send-email", {"to": "later@example.com"}, {"delay": 1.5}),
        ("send-email", {"to": "ceo@example.com"}, {"priority": JobPriority.CRITICAL}),
    ]
    while len(specs) < count:
        n = len(specs)
        specs.append(("send-email", {"to": f"user{n}@example.com"}, {}))
    ids = await queue.enqueue_many(specs[:count])
    click.echo(f"enqueued {len(ids)} jobs: emails, an image, a flaky report, a failing sync,")
    click.echo("a delayed email and mixed priorities\n")
    return list(ids)
