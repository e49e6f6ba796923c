"""``conveyor worker --processes N``: the options, and the supervisor the command becomes.

With ``--processes 1`` (the default) and neither ``--max-jobs-per-process`` nor
``--max-memory-per-process``, ``conveyor worker`` is one worker process, as it always
was. Otherwise it becomes a supervisor (:mod:`conveyor.runtime.supervisor`) that runs
no jobs itself and starts each worker process as ``python -m conveyor worker TARGET``
with the command's other options and the hidden ``--supervised`` (the limits, and the
channel to the supervisor), in the same environment and folder: a target module that
sets things up when imported (Django's settings, say) does so in every process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

from ..runtime.supervised import ChildSpec
from ..runtime.supervisor import Supervisor

F = TypeVar("F", bound=Callable[..., Any])

SUPERVISOR_ONLY = frozenset(
    {"processes", "max_jobs_per_process", "max_memory_per_process", "supervised"}
)
"""The ``worker`` options that its processes are not given."""


def cpu_count() -> int:
    """Count the CPUs this process may run on (its affinity where known, else every CPU)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class ProcessCount(click.ParamType):  # type: ignore[type-arg]
    """A number of processes: an integer of 1 or more, or ``auto`` (:func:`cpu_count`)."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Read ``value`` as a number of processes."""
        if isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return cpu_count()
        try:
            count = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a whole number nor 'auto'", param, ctx)
        if count < 1:
            self.fail(f"{count} is not 1 or more", param, ctx)
        return count


def process_options(command: F) -> F:
    """Add ``--processes``, ``--max-jobs-per-process``, ``--max-memory-per-process``."""
    options = [
        click.option(
            "--processes",
            "-p",
            type=ProcessCount(),
            default="1",
            show_default=True,
            help="Worker processes to run, or 'auto' (one per CPU). Above 1 this command"
            " supervises them: it restarts one that dies (0.5 s, doubling to 30 s),"
            " passes SIGTERM/SIGINT on (each finishes its jobs within --grace) and"
            " reloads them all on SIGHUP (new ones start, each old one stops once its"
            " replacement serves).",
        ),
        click.option(
            "--max-jobs-per-process",
            type=click.IntRange(min=1),
            metavar="N",
            help="Replace a worker process after it ran N jobs (it stops taking jobs,"
            " finishes those it holds within --grace, and a fresh one starts).",
        ),
        click.option(
            "--max-memory-per-process",
            type=click.FloatRange(min=1),
            metavar="MB",
            help="Replace a worker process whose resident memory reached MB after a job,"
            " as --max-jobs-per-process does.",
        ),
        click.option("--supervised", hidden=True, help="Internal: set by the supervisor."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def wants_supervisor(
    processes: int, max_jobs: int | None, max_memory_mb: float | None, supervised: str | None
) -> bool:
    """Tell whether the ``worker`` command's options ask for a supervisor."""
    return supervised is None and (
        processes > 1 or max_jobs is not None or max_memory_mb is not None
    )


def child_command(ctx: click.Context, spec: ChildSpec) -> list[str]:
    """Make one worker process's argv: this command's own arguments, but the supervisor's.

    Only the options given (on the command line or through the environment) are passed
    on; the others keep their defaults in the worker process too.
    """
    argv = [sys.executable, "-m", "conveyor", "worker"]
    options: list[str] = []
    for param in ctx.command.params:
        name = param.name
        if name is None or name in SUPERVISOR_ONLY:
            continue
        value = ctx.params.get(name)
        if isinstance(param, click.Argument):
            argv.append(str(value))
            continue
        if value is None or ctx.get_parameter_source(name) is ParameterSource.DEFAULT:
            continue
        flag = max(param.opts, key=len)
        if isinstance(param, click.Option) and param.is_flag:
            options += [flag] if value else []
        else:
            for item in value if param.multiple else [value]:
                options += [flag, str(item)]
    return [*argv, *options, "--supervised", spec.to_arg()]


def supervise(ctx: click.Context) -> int:
    """Run the supervisor of the worker processes the ``worker`` command asks for."""
    params = ctx.params
    if os.name != "posix":
        raise click.UsageError("--processes and the per-process limits need a POSIX system")
    if params.get("metrics_port") is not None:
        raise click.UsageError(
            "--metrics-port serves one process's metrics: it does not go with --processes"
            " or the per-process limits (run one worker per port instead)"
        )
    supervisor = Supervisor(
        lambda spec: child_command(ctx, spec),
        params["processes"],
        max_jobs=params.get("max_jobs_per_process"),
        max_memory_mb=params.get("max_memory_per_process"),
    )
    return supervisor.run()
