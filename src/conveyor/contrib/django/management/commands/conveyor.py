"""``python manage.py conveyor COMMAND ...``: conveyor's command line on a TASKS backend.

``manage.py conveyor worker`` is ``conveyor worker conveyor.contrib.django.worker:queue``
with the backend's QUEUES (``--queue`` each), in a process where Django is set up;
every other option is the CLI's (``--concurrency``, ``--grace``...). The commands that
take a queue get the backend's (``stats``, ``watch``, ``workers``, ``serve``, ``jobs
list|show|retry|...``, ``schedules list|...``, ``enqueue``, ``purge``,
``retry-failed``); the rest are passed on as they are (``migrate``, ``--help``).
``--backend ALIAS`` before the command picks another TASKS backend than ``default``.
The processes a worker starts inherit the settings module, the backend and the
project's folder on ``PYTHONPATH``.
"""

from __future__ import annotations

import os
import sys
from argparse import REMAINDER, ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from conveyor.errors import ConveyorError

from ...backend import queue_of
from ...worker import BACKEND_VARIABLE

TARGET = "conveyor.contrib.django.worker:queue"
"""The import target of the backend's queue (see :mod:`conveyor.contrib.django.worker`)."""
TAKE_TARGET = frozenset(
    {"worker", "serve", "stats", "watch", "workers", "enqueue", "purge", "retry-failed"}
)
"""Commands whose first argument is the target."""
GROUPS = frozenset({"jobs", "schedules"})
"""Command groups whose verbs take the target first."""


def cli_arguments(arguments: list[str]) -> tuple[str, list[str]]:
    """Return the backend alias and the ``conveyor`` command line of ``arguments``."""
    alias, rest = "default", list(arguments)
    if rest and rest[0].startswith("--backend"):
        option = rest.pop(0)
        if "=" in option:
            alias = option.split("=", 1)[1]
        elif rest:
            alias = rest.pop(0)
        else:
            raise CommandError("--backend needs a TASKS alias")
    if not rest:
        return alias, ["--help"]
    command, after = rest[0], rest[1:]
    if command in GROUPS and after and not after[0].startswith("-"):
        return alias, [command, after[0], TARGET, *after[1:]]
    if command not in TAKE_TARGET:
        return alias, rest
    if command == "worker" and not {"-q", "--queue"} & {a.split("=")[0] for a in after}:
        for name in queue_of(alias).served:
            after += ["--queue", name]
    return alias, [command, TARGET, *after]


class Command(BaseCommand):  # type: ignore[misc]  # Django is untyped
    """``manage.py conveyor``: see the module docstring."""

    help = (
        "Run conveyor's command line on a TASKS backend: 'worker' runs the tasks;"
        " 'stats', 'jobs list', 'serve' (the dashboard)... as the conveyor command."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Take the conveyor command line as it is (for ``call_command``)."""
        parser.add_argument("arguments", nargs=REMAINDER)

    def run_from_argv(self, argv: list[str]) -> None:
        """Hand ``manage.py conveyor ...`` to conveyor's command line (its exit status)."""
        prog = f"{os.path.basename(argv[0])} {argv[1]}"
        self._run(argv[2:], prog, standalone=True)

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the command line of ``call_command("conveyor", ...)``."""
        self._run([*args, *options.get("arguments", [])], "conveyor", standalone=False)

    def _run(self, arguments: list[str], prog: str, *, standalone: bool) -> None:
        from conveyor.cli.main import cli

        try:
            alias, command = cli_arguments(arguments)
        except ConveyorError as exc:
            raise CommandError(str(exc)) from None
        os.environ[BACKEND_VARIABLE] = alias
        _share_path()
        if standalone:
            cli.main(args=command, prog_name=prog, standalone_mode=True)
            return
        try:
            cli.main(args=command, prog_name=prog, standalone_mode=False)
        except SystemExit as exc:
            if exc.code:
                raise CommandError(f"conveyor {' '.join(command)} exited with {exc.code}") from exc


def _share_path() -> None:
    """Put the project's folder (where manage.py is) on the children's PYTHONPATH."""
    project = os.path.abspath(sys.path[0] or os.getcwd())
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if project not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join([project, *paths])
