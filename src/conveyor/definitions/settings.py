"""A queue's own settings, checked: its name, its worker slots, its durations."""

from __future__ import annotations

from datetime import timedelta

from ..errors import ConfigurationError, InvalidJobError
from ..retry import check_seconds


def config_seconds(value: float | timedelta, what: str) -> float:
    """Check a queue's setting of seconds (more than 0); a ConfigurationError if bad."""
    try:
        return check_seconds(value, what, allow_zero=False)
    except InvalidJobError as exc:
        raise ConfigurationError(str(exc)) from None


def check_queue_name(name: object) -> str:
    """Return ``name`` if it can name a queue; raise a ConfigurationError if not."""
    # Bounded so that any job's event fits in one message on every store (a PostgreSQL
    # NOTIFY holds 8,000 bytes; a name written as JSON can take six times its length).
    if not isinstance(name, str) or not name or len(name) > 200:
        raise ConfigurationError(
            f"queue name must be a non-empty string of at most 200 characters, got {name!r}"
        )
    return name


def check_workers(workers: object) -> int:
    """Return ``workers`` if it is a whole number, 1 or more; raise if not."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigurationError(f"workers must be a whole number, 1 or more, got {workers!r}")
    return workers
