"""The commands that read and steer jobs.

``jobs list|show|retry|cancel|delete``, ``enqueue``, ``retry-failed`` and ``purge``
(``stats``, ``watch`` and ``workers`` are in :mod:`.overview`). Read commands print a
table, or with ``--json`` JSON for scripts; long operations show a progress bar and
work in batches. See :mod:`conveyor.cli.target` for how a command finds its queue.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import click
from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from ..client.queue import Queue
from ..job import Job, JobPriority, JobStatus
from .output import console, echo_json
from .target import open_queue, run_on, split_target, target_options, url_options

STATUSES = [status.value for status in JobStatus]
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
ENQUEUE_BATCH = 1000
_NAME = click.option("--name", "-n", help="Only jobs of this name.")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Only count them.")


def parse_age(text: str | None) -> float | None:
    """Read an age such as ``90``, ``45s``, ``30m``, ``12h``, ``7d`` or ``2w`` (seconds)."""
    if text is None:
        return None
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not found:
        raise click.BadParameter(f"{text!r} is not an age such as 90, 45s, 30m, 12h, 7d or 2w")
    return float(found[1]) * _UNITS[found[2] or "s"]


# -- jobs ------------------------------------------------------------------------------------


@click.group()
def jobs() -> None:
    """List, show, retry, cancel and delete jobs."""


def _matching(queue: Queue, status: str, name: str | None, limit: int, offset: int) -> list[Job]:
    """Return a page of jobs in ``status`` (of ``name``: looks at 100,000 at most)."""
    if name is None:
        return queue.sync.get_jobs_by_status(status, limit=limit, offset=offset)
    found: list[Job] = []
    start, skipped = 0, 0
    while len(found) < limit and start < 100_000:
        page = queue.sync.get_jobs_by_status(status, limit=500, offset=start)
        for job in page:
            if job.name == name:
                if skipped < offset:
                    skipped += 1
                else:
                    found.append(job)
        if len(page) < 500:
            break
        start += 500
    return found[:limit]


@jobs.command("list")
@target_options
@click.option("--status", "-s", type=click.Choice(STATUSES), default="pending", show_default=True)
@_NAME
@click.option("--limit", type=click.IntRange(1, 10_000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(min=0), default=0)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
def list_jobs(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    status: str,
    name: str | None,
    limit: int,
    offset: int,
    as_json: bool,
) -> None:
    """List a queue's jobs in one status, oldest first."""
    queue = open_queue(target, url, queue_name)
    found = run_on(queue, lambda q: _matching(q, status, name, limit, offset))
    if as_json:
        for job in found:
            echo_json(job.to_dict())
        return
    if not found:
        click.echo(f"no {status} jobs")
        return
    table = Table(show_edge=False)
    for column in ("ID", "NAME", "STATUS", "ATTEMPTS", "CREATED", "ERROR"):
        table.add_column(column, no_wrap=column != "ERROR")
    for job in found:
        created = job.created_at.strftime("%Y-%m-%d %H:%M:%S") if job.created_at else "-"
        error = (job.error or "").splitlines()[0][:60] if job.error else ""
        table.add_row(job.id, job.name, job.status.value, str(job.attempts), created, error)
    console().print(table)


@jobs.command("show")
@url_options
@click.argument("args", nargs=-1, required=True, metavar="[TARGET] JOB_ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_job(url: str | None, queue_name: str | None, args: tuple[str, ...], as_json: bool) -> None:
    """Show one job: payload, result, error and traceback, attempts, times, progress."""
    target, rest = split_target(args)
    if len(rest) != 1:
        raise click.UsageError("give one JOB_ID (after the TARGET, if any)")
    job_id = rest[0]
    queue = open_queue(target, url, queue_name)
    job = run_on(queue, lambda q: q.sync.get_job(job_id))
    if job is None:
        raise click.ClickException(f"no job with id {job_id!r}")
    data = job.to_dict()
    if as_json:
        echo_json(data)
        return
    width = max(len(key) for key in data)
    for key, value in data.items():
        if key == "traceback" and value:
            click.echo(f"{key}:\n{value}")
        else:
            shown = json.dumps(value, default=str) if isinstance(value, dict | list) else value
            click.echo(f"{key.ljust(width)}  {'-' if shown is None else shown}")


def _steer_each(verb: str, steer: Callable[[Queue, str], bool]) -> click.Command:
    @click.command(verb)
    @url_options
    @click.argument("args", nargs=-1, required=True, metavar="[TARGET] JOB_ID...")
    def command(url: str | None, queue_name: str | None, args: tuple[str, ...]) -> None:
        target, job_ids = split_target(args)
        if not job_ids:
            raise click.UsageError("give at least one JOB_ID (after the TARGET, if any)")
        queue = open_queue(target, url, queue_name)
        done = run_on(queue, lambda q: [job_id for job_id in job_ids if steer(q, job_id)])
        for job_id in job_ids:
            click.echo(f"{verb if job_id in done else 'could not ' + verb} {job_id}")
        if len(done) < len(job_ids):
            raise SystemExit(1)

    command.help = {
        "retry": "Send failed or cancelled jobs back to pending.",
        "cancel": "Cancel waiting jobs, or ask running ones to stop.",
        "delete": "Delete jobs that are not running.",
    }[verb]
    return command


jobs.add_command(_steer_each("retry", lambda q, job_id: q.sync.retry_job(job_id)))
jobs.add_command(_steer_each("cancel", lambda q, job_id: q.sync.cancel(job_id)))
jobs.add_command(_steer_each("delete", lambda q, job_id: q.sync.delete_job(job_id)))


# -- bulk ------------------------------------------------------------------------------------


def _bulk(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    verb: Literal["retry_jobs", "delete_jobs", "cancel_jobs"],
    status: str,
    name: str | None,
    older_than: str | None,
    dry_run: bool,
) -> None:
    """Count what a bulk operation takes; unless ``dry_run``, do it with a progress bar."""
    age = parse_age(older_than)
    what = {"retry_jobs": "retried", "delete_jobs": "deleted", "cancel_jobs": "cancelled"}[verb]

    def run(queue: Queue) -> None:
        total = queue.sync.count_jobs(status, name=name, older_than=age)
        if dry_run or total == 0:
            click.echo(f"{total:,} job(s) would be {what}" if dry_run else f"no job to be {what}")
            return
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task(what, total=total)
            done = getattr(queue.sync, verb)(
                status, name=name, older_than=age, on_batch=lambda n: progress.advance(task, n)
            )
        click.echo(f"{done:,} job(s) {what}")

    run_on(open_queue(target, url, queue_name), run)


@click.command("retry-failed")
@target_options
@_NAME
@click.option("--older-than", help="Only jobs that failed longer ago than this (90, 30m, 7d).")
@_DRY_RUN
def retry_failed(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    name: str | None,
    older_than: str | None,
    dry_run: bool,
) -> None:
    """Send a queue's failed jobs back to pending, in batches."""
    _bulk(target, url, queue_name, "retry_jobs", "failed", name, older_than, dry_run)


@click.command()
@target_options
@click.option(
    "--status",
    "-s",
    required=True,
    type=click.Choice(["completed", "failed", "cancelled", "pending", "scheduled"]),
)
@click.option("--older-than", help="Only jobs older than this (90, 30m, 12h, 7d, 2w).")
@_NAME
@_DRY_RUN
def purge(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    status: str,
    older_than: str | None,
    name: str | None,
    dry_run: bool,
) -> None:
    """Delete a queue's jobs in one status (of a name, older than an age), in batches."""
    _bulk(target, url, queue_name, "delete_jobs", status, name, older_than, dry_run)


# -- enqueue ---------------------------------------------------------------------------------


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if line.strip():
                try:
                    yield number, json.loads(line)
                except ValueError as exc:
                    raise click.ClickException(f"{path}:{number}: not JSON: {exc}") from None


@click.command()
@target_options
@click.option("--name", "job_name", required=True, help="The job's name.")
@click.option("--payload", default="null", show_default=True, help="The payload, as JSON.")
@click.option("--priority", type=click.Choice([p.name for p in JobPriority], case_sensitive=False))
@click.option("--delay", help="Run it after this long (90, 30m, 12h).")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON-lines file: one payload per line, each enqueued as a job of --name.",
)
def enqueue(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    job_name: str,
    payload: str,
    priority: str | None,
    delay: str | None,
    from_file: Path | None,
) -> None:
    """Enqueue a job (or one per line of a JSON-lines file); print its id."""
    options: dict[str, Any] = {}
    if priority is not None:
        options["priority"] = JobPriority[priority.upper()]
    if (seconds := parse_age(delay)) is not None:
        options["delay"] = seconds
    try:
        value = json.loads(payload)
    except ValueError as exc:
        raise click.BadParameter(f"not JSON: {exc}", param_hint="--payload") from None
    queue = open_queue(target, url, queue_name)
    if from_file is None:
        click.echo(run_on(queue, lambda q: q.sync.enqueue(job_name, value, **options)))
        return

    def enqueue_all(q: Queue) -> int:
        total, batch = 0, []
        with Progress(console=Console(stderr=True), transient=True) as progress:
            task = progress.add_task("enqueued", total=None)
            for _, item in _json_lines(from_file):
                batch.append((job_name, item, options))
                if len(batch) == ENQUEUE_BATCH:
                    total += len(q.sync.enqueue_many(batch))
                    progress.advance(task, len(batch))
                    batch = []
            if batch:
                total += len(q.sync.enqueue_many(batch))
        return total

    click.echo(f"{run_on(queue, enqueue_all):,} job(s) enqueued")


@jobs.command("cancel-all")
@target_options
@click.option("--status", "-s", type=click.Choice(["pending", "scheduled"]), default="pending")
@click.option("--older-than", help="Only jobs created longer ago than this (90, 30m, 7d).")
@_NAME
@_DRY_RUN
def cancel_all(
    target: str | None,
    url: str | None,
    queue_name: str | None,
    status: str,
    older_than: str | None,
    name: str | None,
    dry_run: bool,
) -> None:
    """Cancel a queue's waiting jobs (of a name, older than an age), in batches."""
    _bulk(target, url, queue_name, "cancel_jobs", status, name, older_than, dry_run)


COMMANDS = (jobs, retry_failed, purge, enqueue)
"""The commands this module adds to ``conveyor``."""
