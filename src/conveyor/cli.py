"""The ``conveyor`` command: ``worker``, ``demo``, ``migrate``, ``--version``."""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
import sys
from typing import Any

import click

from ._version import __version__
from .errors import ConveyorError
from .queue import Queue
from .stores import Store

log = logging.getLogger("conveyor.cli")


def load_queue(target: str) -> Queue:
    """Import ``module:attribute`` and return the :class:`Queue` it names."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter(
            f"{target!r} is not of the form module:attribute (e.g. myapp.jobs:queue)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only the target itself (or a parent package) missing is the user's typo; a
        # missing dependency deep inside their module keeps its traceback.
        if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise click.ClickException(f"cannot import module {module_name!r}: {exc}") from None
        raise
    except ConveyorError as exc:
        # e.g. create_queue() at import time with a bad URL: a clear line, no traceback.
        raise click.ClickException(f"cannot load {target}: {type(exc).__name__}: {exc}") from None
    try:
        queue = getattr(module, attribute)
    except AttributeError:
        raise click.ClickException(
            f"module {module_name!r} has no attribute {attribute!r}"
        ) from None
    if not isinstance(queue, Queue):
        raise click.ClickException(
            f"{target} is a {type(queue).__name__}, not a conveyor Queue (from create_queue)"
        )
    return queue


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
def worker(
    target: str, concurrency: int | None, queues: tuple[str, ...], grace: float, log_level: str
) -> None:
    """Run workers for the queue TARGET (module:attribute) until SIGINT or SIGTERM."""
    _configure_logging(log_level)
    queue = load_queue(target)
    try:
        asyncio.run(_serve(queue, list(queues) or None, concurrency, grace))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None


async def _serve(
    queue: Queue, queues: list[str] | None, concurrency: int | None, grace: float
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
    await queue.start(queues=queues, concurrency=concurrency)
    log.info(
        "worker %s serving %s with %s job(s) at once; handlers: %s",
        os.getpid(),
        ", ".join(queues or [queue.name]),
        concurrency or queue.workers,
        ", ".join(queue.handlers) or "none",
    )
    await stop.wait()
    await queue.stop(timeout=grace)
    await queue.close()
    log.info("worker %s stopped", os.getpid())


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
    from .stores import mask_url, store_from_url

    try:
        if url.split(":", 1)[0].lower() in ("postgresql", "postgres"):
            from .stores.postgres import migrate as migrate_postgres

            applied = migrate_postgres(url)
            for migration in applied:
                click.echo(f"applied {migration.version:04d}_{migration.name}")
            if not applied:
                click.echo("nothing to apply")
        else:
            asyncio.run(_open_and_close(store_from_url(url)))
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{mask_url(url)}: schema up to date")


async def _open_and_close(store: Store) -> None:
    await store.open()
    await store.close()


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _name(signum: int) -> str:
    return signal.Signals(signum).name


def main(argv: list[str] | None = None) -> Any:
    """Run the ``conveyor`` command line."""
    return cli.main(args=argv, prog_name="conveyor")
