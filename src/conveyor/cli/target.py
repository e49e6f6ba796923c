"""Which queue a command works on: ``module:queue`` (the app's own object), or a URL.

Every command that reads or steers jobs takes the queue from ``TARGET``
(``module:attribute``), or from ``--url`` (default: ``CONVEYOR_URL``) and ``--queue``
(default ``default``) when there is no app to import; ``--url`` with a target points
the target's queue at another store. A :class:`~conveyor.ConveyorError` becomes one
line and exit status 1.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from ..client.create import create_queue
from ..client.queue import Queue
from ..errors import ConveyorError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])


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


def target_options(command: F) -> F:
    """Add ``TARGET`` (optional), ``--url`` and ``--queue`` to a command."""
    return click.argument("target", required=False)(url_options(command))


def url_options(command: F) -> F:
    """Add ``--url`` and ``--queue`` to a command."""
    command = click.option(
        "--queue", "-q", "queue_name", help="Queue name (default: the target's, or 'default')."
    )(command)
    return click.option(
        "--url", help="Store URL (default: the target's; without one, CONVEYOR_URL)."
    )(command)


def split_target(args: tuple[str, ...]) -> tuple[str | None, tuple[str, ...]]:
    """Split ``[TARGET] ARGS...``: the first argument is the target if it has a colon."""
    if args and ":" in args[0]:
        return args[0], args[1:]
    return None, args


def open_queue(target: str | None, url: str | None, queue_name: str | None) -> Queue:
    """Return the queue a command works on (see the module docstring)."""
    if target is None:
        if url is None:
            raise click.UsageError("give a TARGET (module:queue), --url or CONVEYOR_URL")
        return _guarded(lambda: create_queue(url=url, name=queue_name or "default"))
    queue = load_queue(target)
    if (url is not None and "CONVEYOR_URL" not in os.environ) or (
        url and url != os.environ.get("CONVEYOR_URL")
    ):
        _guarded(lambda: queue.point_at(url, name=queue_name))
    elif queue_name is not None:
        _guarded(lambda: queue.point_at(name=queue_name))
    return queue


def on_queue(target: str, action: Callable[[Queue], T]) -> T:
    """Load ``target``, run ``action`` on it, close it; errors are one line."""
    return run_on(load_queue(target), action)


def run_on(queue: Queue, action: Callable[[Queue], T]) -> T:
    """Run ``action`` on ``queue``, then close it; errors are one line."""
    try:
        return action(queue)
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        queue.sync.close()


def _guarded(make: Callable[[], T]) -> T:
    try:
        return make()
    except ConveyorError as exc:
        raise click.ClickException(str(exc)) from None
