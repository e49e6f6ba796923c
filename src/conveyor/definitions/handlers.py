"""The handlers a queue knows: job name → function, with per-handler job defaults."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from ..errors import ConfigurationError, HandlerRegistrationError, InvalidJobError
from .options import Options, check_name, check_options
from .retention import FOR_EVER, Retention, check_retention

RunIn = Literal["thread", "process"]
HandlerFunc = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Handler:
    """A registered handler and its job defaults."""

    name: str
    func: HandlerFunc
    is_async: bool
    defaults: Options
    run_in: RunIn = "thread"
    """Where a plain function runs: a thread of this process, or a process of its own."""
    retention: Retention = FOR_EVER
    """How long its finished jobs are kept, where it overrides the queue's."""
    on_failure: Callable[[Any], Any] | None = None
    """Called (plain or async) with the job once it failed for good."""
    concurrency: int | None = None
    """At most this many of its jobs run at once, over every process on the store."""
    concurrency_key: Callable[[Any], str] | None = None
    """With ``concurrency``: the limit holds per value of this function of the payload."""
    rate_limit: tuple[int, float] | None = None
    """At most this many starts per this many seconds, over every process on the store."""
    rate_key: Callable[[Any], str] | None = None
    """With ``rate_limit``: the limit holds per value of this function of the payload."""


class HandlerRegistry:
    """The handlers one queue can run."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def add(self, name: str, func: object, defaults: Mapping[str, Any]) -> Handler:
        """Register ``func`` for jobs called ``name``; raise on duplicates and bad input."""
        try:
            check_name(name)
        except InvalidJobError as exc:
            raise HandlerRegistrationError(str(exc)) from None
        if not callable(func):
            raise HandlerRegistrationError(f"handler for {name!r} must be callable, got {func!r}")
        if name in self._handlers:
            raise HandlerRegistrationError(
                f"a handler for {name!r} is already registered ({self._handlers[name].func!r})"
            )
        options = dict(defaults)
        run_in = options.pop("run_in", "thread")
        keeps = options.pop("keep_completed", None), options.pop("keep_failed", None)
        on_failure = options.pop("on_failure", None)
        concurrency = _check_concurrency(
            name, options.pop("concurrency", None), options.pop("concurrency_key", None)
        )
        rate = _check_rate(name, options.pop("rate_limit", None), options.pop("rate_key", None))
        if on_failure is not None and not callable(on_failure):
            raise HandlerRegistrationError(
                f"on_failure for {name!r} must be callable, got {on_failure!r}"
            )
        is_async = inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
            getattr(func, "__call__", None)  # noqa: B004
        )
        _check_run_in(name, run_in, is_async)
        try:
            checked = check_options(options, where=f"handler {name!r}", allow_callable=True)
            retention = check_retention(*keeps, where=f"handler {name!r}")
        except (InvalidJobError, ConfigurationError) as exc:
            raise HandlerRegistrationError(str(exc)) from None
        handler = Handler(
            name, func, is_async, checked, run_in, retention, on_failure, *concurrency, *rate
        )
        self._handlers[name] = handler
        return handler

    def get(self, name: str) -> Handler | None:
        """Return the handler for ``name``, if any."""
        return self._handlers.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._handlers

    def __iter__(self) -> Iterator[str]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


def _check_concurrency(
    name: str, limit: object, key: object
) -> tuple[int | None, Callable[[Any], str] | None]:
    if limit is None:
        if key is not None:
            raise HandlerRegistrationError(f"concurrency_key for {name!r} needs concurrency=N")
        return None, None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise HandlerRegistrationError(
            f"concurrency for {name!r} must be a whole number, 1 or more, got {limit!r}"
        )
    return limit, _key_function(name, "concurrency_key", key)


_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def _check_rate(
    name: str, limit: object, key: object
) -> tuple[tuple[int, float] | None, Callable[[Any], str] | None]:
    """Check ``rate_limit`` ("10/s", "100/m", "1000/h" or ``(count, seconds)``)."""
    if limit is None:
        if key is not None:
            raise HandlerRegistrationError(f"rate_key for {name!r} needs rate_limit")
        return None, None
    count: object
    period: object
    if isinstance(limit, str) and limit.count("/") == 1:
        count_text, unit = limit.split("/")
        count = int(count_text) if count_text.strip().isdigit() else None
        period = _PERIODS.get(unit.strip())
    elif isinstance(limit, tuple) and len(limit) == 2:
        count, period = limit
        if isinstance(period, timedelta):
            period = period.total_seconds()
    else:
        count = period = None
    if (
        isinstance(count, bool)
        or not isinstance(count, int)
        or count < 1
        or isinstance(period, bool)
        or not isinstance(period, int | float)
        or not 0 < period < math.inf
    ):
        raise HandlerRegistrationError(
            f"rate_limit for {name!r} must be like '10/s', '100/m', '1000/h' or"
            f" (count, seconds), with a count of 1 or more; got {limit!r}"
        )
    return (count, float(period)), _key_function(name, "rate_key", key)


def _key_function(name: str, option: str, key: object) -> Callable[[Any], str] | None:
    if key is not None and not callable(key):
        raise HandlerRegistrationError(
            f"{option} for {name!r} must be a function of the payload, got {key!r}"
        )
    return key


def _check_run_in(name: str, run_in: object, is_async: bool) -> None:
    if run_in not in ("thread", "process"):
        raise HandlerRegistrationError(
            f"run_in for {name!r} must be 'thread' or 'process', got {run_in!r}"
        )
    if run_in == "process" and is_async:
        raise HandlerRegistrationError(
            f"run_in='process' is for plain functions; {name!r} is async"
        )
