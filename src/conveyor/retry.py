"""Backoff policies: how long a failed job waits before its next attempt.

A policy is chosen per handler (``@queue.handler("x", retry_delay=Exponential(...))``) or
per job. Built-in policies are stored with the job, so any worker applies them; a plain
callable ``(attempt, job) -> seconds`` can be given per handler, where it lives in code.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeAlias

from .errors import InvalidJobError


@dataclass(frozen=True, slots=True)
class Fixed:
    """Wait the same ``delay`` seconds before every retry."""

    delay: float = 1.0
    """Seconds before each retry."""

    def seconds(self, attempt: int) -> float:
        """Return the delay before the retry that follows failed attempt ``attempt``."""
        return self.delay

    def to_spec(self) -> dict[str, Any]:
        """Return the policy as JSON-able data, stored with the job."""
        return {"kind": "fixed", "delay": self.delay}


@dataclass(frozen=True, slots=True)
class Exponential:
    """Wait ``base * factor ** (attempt - 1)`` seconds, capped at ``max_delay``.

    With ``jitter`` (the default) the wait is drawn uniformly from ``[0, that]``
    ("full jitter"), which spreads a thundering herd of retries apart.
    """

    base: float = 1.0
    """Seconds before the first retry (before jitter)."""
    factor: float = 2.0
    """What each further retry multiplies the wait by."""
    max_delay: float = 300.0
    """The longest wait, in seconds."""
    jitter: bool = True
    """Draw each wait uniformly between 0 and the computed one."""

    def seconds(self, attempt: int) -> float:
        """Return the delay before the retry that follows failed attempt ``attempt``."""
        exponent = max(attempt - 1, 0)
        try:
            delay = min(self.base * self.factor**exponent, self.max_delay)
        except OverflowError:
            delay = self.max_delay
        return random.uniform(0.0, delay) if self.jitter else delay

    def to_spec(self) -> dict[str, Any]:
        """Return the policy as JSON-able data, stored with the job."""
        return {
            "kind": "exponential",
            "base": self.base,
            "factor": self.factor,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
        }


BackoffPolicy: TypeAlias = Fixed | Exponential


def policy_from_spec(spec: dict[str, Any]) -> BackoffPolicy:
    """Rebuild a built-in policy from its stored form."""
    kind = spec.get("kind")
    if kind == "fixed":
        return Fixed(float(spec["delay"]))
    if kind == "exponential":
        return Exponential(
            base=float(spec["base"]),
            factor=float(spec["factor"]),
            max_delay=float(spec["max_delay"]),
            jitter=bool(spec["jitter"]),
        )
    raise InvalidJobError(f"unknown backoff policy {kind!r} in stored job")


def check_seconds(value: object, what: str, *, allow_zero: bool = True) -> float:
    """Return ``value`` (number or ``timedelta``) as finite, non-negative seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidJobError(f"{what} must be seconds (a number or timedelta), got {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise InvalidJobError(f"{what} must be a finite number of seconds, got {value!r}")
    if seconds < 0 or (seconds == 0 and not allow_zero):
        bound = "zero or more" if allow_zero else "more than zero"
        raise InvalidJobError(f"{what} must be {bound} seconds, got {value!r}")
    return seconds


def validate_policy(policy: BackoffPolicy) -> BackoffPolicy:
    """Check a built-in policy's numbers; return it unchanged."""
    if isinstance(policy, Fixed):
        check_seconds(policy.delay, "Fixed.delay")
    else:
        check_seconds(policy.base, "Exponential.base")
        check_seconds(policy.max_delay, "Exponential.max_delay")
        factor = check_seconds(policy.factor, "Exponential.factor")
        if factor < 1:
            raise InvalidJobError(f"Exponential.factor must be at least 1, got {factor!r}")
    return policy
