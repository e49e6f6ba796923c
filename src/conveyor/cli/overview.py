"""The commands that look at a queue as a whole: ``stats``, ``watch`` and ``workers``."""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import Any

import click
from rich.live import Live
from rich.table import Table

from ..client.queue import Queue
from .jobs import STATUSES
from .output import console, echo_json
from .target import open_queue, run_on, target_options


def _counts(queue: Queue) -> dict[str, Any]:
    """Count jobs per status, and those finished in the last minute."""
    stats = queue.sync.get_stats()
    counts: dict[str, Any] = {status: getattr(stats, status) for status in STATUSES}
    counts["total"] = stats.total
    for status in ("completed", "failed"):
        older = queue.sync.count_jobs(status, older_than=60)
        counts[f"{status}_last_minute"] = counts[status] - older
    return counts


def _stats_table(name: str, counts: dict[str, Any]) -> Table:
    table = Table(title=f"queue {name}", show_edge=False)
    for status in [*STATUSES, "total"]:
        table.add_column(status, justify="right")
    table.add_row(*(f"{counts[status]:,}" for status in [*STATUSES, "total"]))
    table.caption = (
        f"last minute: {counts['completed_last_minute']:,} completed,"
        f" {counts['failed_last_minute']:,} failed"
    )
    return table


@click.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def stats(target: str | None, url: str | None, queue_name: str | None, as_json: bool) -> None:
    """Show how many jobs of a queue are in each status, and its last minute's throughput."""
    queue = open_queue(target, url, queue_name)
    counts = run_on(queue, _counts)
    if as_json:
        echo_json({"queue": queue.name, **counts})
    else:
        console().print(_stats_table(queue.name, counts))


@click.command()
@target_options
@click.option("--interval", type=click.FloatRange(min=0.2), default=1.0, show_default=True)
@click.option("--count", type=click.IntRange(min=1), help="Stop after this many refreshes.")
def watch(
    target: str | None, url: str | None, queue_name: str | None, interval: float, count: int | None
) -> None:
    """Show a queue's counts and throughput live, refreshing until ^C."""
    queue = open_queue(target, url, queue_name)

    def follow(queue: Queue) -> None:
        refreshes = 0
        with Live(console=console(), auto_refresh=False) as live:
            while count is None or refreshes < count:
                live.update(_stats_table(queue.name, _counts(queue)), refresh=True)
                refreshes += 1
                if count is None or refreshes < count:
                    time.sleep(interval)

    with contextlib.suppress(KeyboardInterrupt):
        run_on(queue, follow)


@click.command()
@target_options
@click.option("--json", "as_json", is_flag=True, help="One JSON object per worker.")
def workers(target: str | None, url: str | None, queue_name: str | None, as_json: bool) -> None:
    """List the worker processes alive on the store, and the jobs they run."""
    found = run_on(open_queue(target, url, queue_name), lambda q: q.sync.get_workers())
    if as_json:
        for worker in found:
            echo_json(dataclasses.asdict(worker))
        return
    if not found:
        click.echo("no worker alive")
        return
    table = Table(show_edge=False)
    for column in ("WORKER", "QUEUES", "BUSY", "RUNNING", "UP SINCE", "LAST SEEN"):
        table.add_column(column, no_wrap=column != "RUNNING")
    for w in found:
        table.add_row(f"{w.host}:{w.pid}", ", ".join(w.queues), f"{len(w.running)}/{w.concurrency}",
                      " ".join(w.running[:5]), f"{w.started_at:%Y-%m-%d %H:%M:%S}",
                      f"{w.seen_at:%H:%M:%S}")  # fmt: skip
    console().print(table)


COMMANDS = (stats, watch, workers)
"""The commands this module adds to ``conveyor``."""
