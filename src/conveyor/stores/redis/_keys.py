"""The store's key layout, as the Lua scripts (``lua/_common.lua``) build it.

Every key starts with the hash tag ``{prefix}``, so all of one store lives in one
cluster slot and every script touches one slot.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Keys:
    """Key names under one prefix."""

    prefix: str
    tag: str = field(init=False)
    """``{prefix}``: the start of every key, passed to every script as ``KEYS[1]``."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "tag", "{" + self.prefix + "}")

    @property
    def changes(self) -> str:
        """The pub/sub channel of job events that can make work ready or finish a job."""
        return f"{self.tag}:changes"

    @property
    def events(self) -> str:
        """The pub/sub channel of the other job events (started, progress)."""
        return f"{self.tag}:events"

    def wake(self, origin: str) -> str:
        """Name the channel only one store object listens on (to hurry its listener)."""
        return f"{self.tag}:wake:{origin}"

    def bell(self, queue: str) -> str:
        """List: at most one token, pushed when a queue gets new pending jobs.

        Idle workers block on their queues' bells with a claim queued behind (see
        :mod:`._armed`); a token wakes one of them, and the claim runs at once.
        """
        return f"{self.tag}:bell:{queue}"

    def job(self, job_id: str) -> str:
        """Hash: one job's fields."""
        return f"{self.tag}:job:{job_id}"

    def ready(self, queue: str) -> str:
        """Sorted set: a queue's pending jobs by priority, then run_at."""
        return f"{self.tag}:ready:{queue}"

    def delayed(self, queue: str) -> str:
        """Sorted set: a queue's scheduled jobs by run_at."""
        return f"{self.tag}:delayed:{queue}"

    def status(self, queue: str, status: str) -> str:
        """Sorted set (all scores 0, so by id): a queue's jobs in one status."""
        return f"{self.tag}:status:{status}:{queue}"

    def schedules(self, queue: str) -> str:
        """Hash: a queue's recurring schedules, a JSON state per schedule key."""
        return f"{self.tag}:schedules:{queue}"

    @property
    def workers(self) -> str:
        """Hash: the workers alive, their beat's expiry, a newline, their JSON info."""
        return f"{self.tag}:workers"

    @property
    def leases(self) -> str:
        """Sorted set: running jobs by lease deadline."""
        return f"{self.tag}:leases"
