"""The ``conveyor`` command: ``worker``, ``schedules``, ``demo``, ``migrate``, ``--version``.

The job commands (``jobs``, ``enqueue``, ``purge``...) are in :mod:`.jobs`, ``stats``,
``watch`` and ``workers`` in :mod:`.overview`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any, Literal, TypeVar

import click

from .._version import __version__
from ..client.queue import Queue
from ..errors import ConveyorError
from ..logs import configure_logging
from ..runtime.scheduler import ScheduleInfo
from ..runtime.supervised import RECYCLE_EXIT, Supervised
from . import jobs, overview
from .processes import process_options, supervise, wants_supervisor
from .target import load_queue, on_queue

log = logging.getLogger("conveyor.cli")
T = TypeVar("T")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="conveyor")
def cli() -> None:
    """Conveyor: a Python background job queue."""


@cli.command()
@click.argument("target")
@click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Jobs run at once.")
@click.option("--queue", "-q", "queues", multiple=True, help="Queue to serve (repeatable).")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds running jobs get to finish after SIGINT/SIGTERM before they are put back.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object a line, with each job's id, name, attempt and duration.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus metrics on this port (/metrics; needs conveyor[metrics]).",
)
@click.option("--metrics-host", default="127.0.0.1", show_default=True)
@process_options
def worker(
    target: str,
    concurrency: int | None,
    queues: tuple[str, ...],
    grace: float,
    log_level: str,
    log_format: Literal["text", "json"],
    metrics_port: int | None,
    metrics_host: str,
    processes: int,
    max_jobs_per_process: int | None,
    max_memory_per_process: float | None,
    supervised: str | None,
) -> None:
    """Run workers for the queue TARGET (module:attribute) until SIGINT or SIGTERM.

    With --processes N (or a per-process limit), this command starts and supervises
    that many worker processes, each running --concurrency jobs at once.
    """
    configure_logging(log_level, log_format)
    ctx = click.get_current_context()
    if wants_supervisor(processes, max_jobs_per_process, max_memory_per_process, supervised):
        ctx.exit(supervise(ctx))
    try:
        child = None if supervised is None else Supervised.attach(supervised)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--supervised") from None
    if supervised is not None and child is None:
        log.warning("worker %s: its supervisor is gone before it started", os.getpid())
        return
    queue = load_queue(target)
    if metrics_port is not None:
        from ..metrics import serve_metrics

        try:
            server = serve_metrics(queue.enable_metrics(), metrics_port, metrics_host)
        except (ConveyorError, OSError) as exc:
            raise click.ClickException(f"cannot serve metrics: {exc}") from None
        log.info("metrics on http://%s:%d/metrics", metrics_host, server.server_port)
    try:
        asyncio.run(_serve(queue, list(queues) or None, concurrency, grace, child))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    if child is not None and child.recycling:
        ctx.exit(RECYCLE_EXIT)


async def _serve(
    queue: Queue,
    queues: list[str] | None,
    concurrency: int | None,
    grace: float,
    child: Supervised | None = None,
) -> None:
    stop = asyncio.Event()
    signals_seen = 0

    def on_signal(signum: int) -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            log.info("%s received: finishing running jobs (up to %g s)", _name(signum), grace)
            stop.set()
        else:
            log.warning("second signal: putting running jobs back now")
            queue.stop_now()

    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    if child is not None:
        child.follow(queue.hooks, stop.set)
    await queue.start(queues=queues, concurrency=concurrency)
    log.info(
        "worker %s serving %s with %s job(s) at once; handlers: %s",
        os.getpid(),
        ", ".join(queues or [queue.name]),
        concurrency or queue.workers,
        ", ".join(queue.handlers) or "none",
    )
    if child is not None:
        child.ready()
    await stop.wait()
    await queue.stop(timeout=grace)
    await queue.close()
    log.info("worker %s stopped", os.getpid())


@cli.command()
@click.argument("target")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--token",
    envvar="CONVEYOR_TOKEN",
    help="Require 'Authorization: Bearer TOKEN' (env CONVEYOR_TOKEN); needed off loopback.",
)
@click.option("--with-workers", is_flag=True, help="Also run the queue's workers here.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"], case_sensitive=False),
    default="info",
    show_default=True,
)
def serve(
    target: str, host: str, port: int, token: str | None, with_workers: bool, log_level: str
) -> None:
    """Serve the REST API of the queue TARGET (module:attribute) over HTTP."""
    try:
        from ..http import conveyor_app
        from ..http.security import is_loopback
    except ImportError:
        raise click.ClickException(
            "serve needs the http extra: pip install 'conveyor[http]'"
        ) from None
    if not is_loopback(host) and not token:
        raise click.ClickException(
            f"refusing to serve on {host} without a token: anyone who reaches it could steer"
            " the queue; pass --token (or CONVEYOR_TOKEN), or listen on 127.0.0.1"
        )
    configure_logging(log_level)
    queue = load_queue(target)
    with contextlib.suppress(ConveyorError):  # without prometheus-client: no /metrics
        queue.enable_metrics()
    app = conveyor_app(queue, token=token)
    try:
        asyncio.run(_serve_http(queue, app, host, port, with_workers, log_level))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None


async def _serve_http(
    queue: Queue, app: Any, host: str, port: int, with_workers: bool, log_level: str
) -> None:
    import uvicorn

    # Open event streams never end by themselves: a stop waits for them 5 s at most.
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5
    )
    server = uvicorn.Server(config)
    if with_workers:
        await queue.start()
    try:
        await server.serve()
    finally:
        await queue.close()


@cli.group()
def schedules() -> None:
    """List, pause, resume and remove the recurring schedules of a queue."""


@schedules.command("list")
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per schedule.")
def list_schedules(target: str, as_json: bool) -> None:
    """Show the schedules of TARGET (module:queue): next run, last run, state."""
    infos = on_queue(target, lambda queue: queue.sync.get_schedules())
    if as_json:
        for info in infos:
            click.echo(json.dumps(_as_dict(info)))
        return
    if not infos:
        click.echo("no schedules")
        return
    rows = [("KEY", "JOB", "SCHEDULE", "TIMEZONE", "NEXT RUN", "LAST RUN", "LAST JOB", "STATE")]
    rows += [
        (info.key, info.name, info.schedule, info.timezone, _when(info.next_run),
         _when(info.last_run), info.last_job_id or "-", _state(info))
        for info in infos
    ]  # fmt: skip
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def _steer_schedule(verb: str, done: str, steer: Callable[[Queue, str], None], doc: str) -> None:
    """Add ``conveyor schedules VERB TARGET KEY``, which calls ``steer(queue, key)``."""

    @schedules.command(verb, help=doc)
    @click.argument("target")
    @click.argument("key")
    def command(target: str, key: str) -> None:
        on_queue(target, lambda queue: steer(queue, key))
        click.echo(f"{done} {key}")


_steer_schedule(
    "pause",
    "paused",
    lambda queue, key: queue.sync.pause_schedule(key),
    "Stop schedule KEY of TARGET from firing, in every process, until resumed.",
)
_steer_schedule(
    "resume",
    "resumed",
    lambda queue, key: queue.sync.resume_schedule(key),
    "Let paused schedule KEY of TARGET fire again, from its next tick.",
)
_steer_schedule(
    "remove",
    "removed",
    lambda queue, key: queue.sync.remove_schedule(key),
    "Delete schedule KEY of TARGET from the store (remove it from the code too).",
)


def _as_dict(info: ScheduleInfo) -> dict[str, Any]:
    fields = dataclasses.asdict(info)
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in fields.items()}


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S %Z")


def _state(info: ScheduleInfo) -> str:
    return "paused" if info.paused else "stale" if info.stale else "active"


@cli.command()
@click.option("--url", help="Store URL (default: CONVEYOR_URL, then sqlite:///conveyor.db).")
@click.option("--jobs", type=click.IntRange(min=1, max=1000), default=12, show_default=True)
def demo(url: str | None, jobs: int) -> None:
    """Run a worker pool on example jobs and show them to the end."""
    from .demo import run_demo

    try:
        asyncio.run(run_demo(url, jobs))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None


@cli.command()
@click.argument("url", envvar="CONVEYOR_URL")
def migrate(url: str) -> None:
    """Create or upgrade the store's schema at URL (default: CONVEYOR_URL), then exit.

    For PostgreSQL stores opened with ?migrate=false: run it once per release, before
    the new code starts. SQLite files are migrated when opened; this opens one.
    """
    from ..stores import mask_url, migrate_store

    try:
        done = migrate_store(url)
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    for line in done:
        click.echo(line)
    if not done and url.split(":", 1)[0].lower() in ("postgresql", "postgres"):
        click.echo("nothing to apply")
    click.echo(f"{mask_url(url)}: schema up to date")


def _name(signum: int) -> str:
    return signal.Signals(signum).name


for _command in (*jobs.COMMANDS, *overview.COMMANDS):
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> Any:
    """Run the ``conveyor`` command line."""
    return cli.main(args=argv, prog_name="conveyor")
