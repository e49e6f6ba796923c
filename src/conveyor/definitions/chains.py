"""Chains: jobs that run one after another, each given the previous one's result.

``queue.chain(("fetch", {"url": u}), "parse", ("store", {"priority": "HIGH"}))`` enqueues
the first job only; the rest of the chain travels in its headers. When a job of a
chain completes, the worker that ran it enqueues the next step, with the result as its
payload, before it records the completion. That enqueue uses a unique key (the chain's
id and the step's number), so a worker killed between the two (its job then runs
again) cannot add the next step twice; and a job that fails for good ends its chain
there: the steps after it are never enqueued, nothing waits for ever. ``retry_job`` of
that job resumes the chain, since its headers still carry the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidJobError

STEPS = "conveyor-chain"
"""Header: the steps after this job, as JSON ``[[name, options], ...]``."""
CHAIN_ID = "conveyor-chain-id"
"""Header: the id of the chain's first job."""
STEP = "conveyor-chain-step"
"""Header: this job's number in the chain, from 0."""
KEEP_KEY_FOR = 30 * 86400.0
"""Seconds a step's unique key stays taken, so that a late rerun of the step before it
cannot enqueue it again."""

Step = str | tuple[str, Mapping[str, Any]]


def next_steps(steps: Sequence[Step]) -> list[list[Any]]:
    """Check the steps after the first (a name, or ``(name, options)``); return them as stored."""
    stored: list[list[Any]] = []
    for index, step in enumerate(steps, start=1):
        if isinstance(step, str):
            name, options = step, {}
        elif (
            isinstance(step, tuple)
            and len(step) == 2
            and isinstance(step[0], str)
            and isinstance(step[1], Mapping)
        ):
            name, options = step[0], dict(step[1])
        else:
            raise InvalidJobError(
                f"chain step {index} must be a job name or (name, options), got {step!r}"
            )
        if "payload" in options or "key" in options or "unique_for" in options:
            raise InvalidJobError(
                f"chain step {index}: its payload is the previous step's result, and its"
                " key is the chain's"
            )
        try:
            json.dumps(options)
        except (TypeError, ValueError):
            raise InvalidJobError(
                f"chain step {index}: options must be JSON values (priority by name or"
                f" number, seconds as numbers), got {options!r}"
            ) from None
        stored.append([name, options])
    return stored


def chain_headers(chain_id: str, step: int, rest: list[list[Any]]) -> dict[str, str]:
    """Return the headers of a chain's job number ``step`` followed by ``rest``."""
    steps = json.dumps(rest, separators=(",", ":"))
    return {CHAIN_ID: chain_id, STEP: str(step), STEPS: steps}


def read_chain(headers: Mapping[str, str]) -> tuple[str, int, list[list[Any]]]:
    """Return a chain job's chain id, step number and the steps after it."""
    return headers[CHAIN_ID], int(headers[STEP]), json.loads(headers[STEPS])


def step_key(chain_id: str, step: int) -> str:
    """Return the unique key of a chain's step."""
    return f"conveyor-chain:{chain_id}:{step}"
