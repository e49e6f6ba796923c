"""Backoff policies: Fixed, Exponential (bounds, jitter, overflow) and their checks."""

from __future__ import annotations

import math

import pytest

from conveyor import (
    ConveyorError,
    Exponential,
    Fixed,
    HandlerRegistrationError,
    InvalidJobError,
    QueueStats,
    create_queue,
)
from conveyor.retry import policy_from_spec


def test_fixed_waits_the_same_every_time() -> None:
    policy = Fixed(2.5)
    assert [policy.seconds(attempt) for attempt in (1, 2, 10)] == [2.5, 2.5, 2.5]


def test_exponential_without_jitter_doubles_up_to_its_cap() -> None:
    policy = Exponential(base=1, factor=2, max_delay=10, jitter=False)
    assert [policy.seconds(attempt) for attempt in range(1, 7)] == [1, 2, 4, 8, 10, 10]
    assert policy.seconds(0) == 1  # never below base
    assert Exponential(base=0.5, factor=3, max_delay=100, jitter=False).seconds(3) == 4.5


def test_exponential_jitter_draws_from_zero_to_the_capped_delay() -> None:
    policy = Exponential(base=1, factor=2, max_delay=6, jitter=True)
    third = [policy.seconds(3) for _ in range(2_000)]  # uncapped: up to 4
    assert all(0 <= s <= 4 for s in third)
    assert min(third) < 0.5
    assert max(third) > 3.5
    capped = [policy.seconds(10) for _ in range(2_000)]  # 512 capped at 6
    assert all(0 <= s <= 6 for s in capped)
    assert max(capped) > 5.5


@pytest.mark.parametrize(
    "policy",
    [
        Exponential(base=1.0, factor=10.0, max_delay=60, jitter=False),
        Exponential(base=1, factor=2, max_delay=60, jitter=False),
        Exponential(base=0.25, factor=1e10, max_delay=60, jitter=False),
    ],
)
def test_exponential_never_overflows_past_its_cap(policy: Exponential) -> None:
    for attempt in (50, 1_100, 5_000):
        assert policy.seconds(attempt) == 60


def test_exponential_jitter_at_huge_attempts_stays_in_range() -> None:
    policy = Exponential(base=1.0, factor=10.0, max_delay=30)
    assert all(0 <= policy.seconds(10_000) <= 30 for _ in range(100))


@pytest.mark.parametrize("policy", [Fixed(3), Exponential(0.5, 3, 42, False), Exponential()])
def test_a_policy_survives_its_stored_form(policy: Fixed | Exponential) -> None:
    assert policy_from_spec(policy.to_spec()) == policy


def test_an_unknown_stored_policy_is_a_clear_error() -> None:
    with pytest.raises(InvalidJobError, match="unknown backoff policy 'linear'"):
        policy_from_spec({"kind": "linear"})


@pytest.mark.parametrize(
    ("retry_delay", "named"),
    [
        (Fixed(-1), "Fixed.delay"),
        (Fixed(math.nan), "Fixed.delay"),
        (Exponential(base=-1), "Exponential.base"),
        (Exponential(base=math.nan), "Exponential.base"),
        (Exponential(factor=0.5), "Exponential.factor"),
        (Exponential(factor=math.inf), "Exponential.factor"),
        (Exponential(max_delay=math.inf), "Exponential.max_delay"),
        (-1, "retry_delay"),
        (math.nan, "retry_delay"),
        ("soon", "retry_delay"),
        (lambda attempt, job: 1, "only be set on the handler"),
    ],
)
async def test_a_bad_retry_delay_is_refused_per_job(retry_delay: object, named: str) -> None:
    queue = create_queue(url="memory://")
    with pytest.raises(InvalidJobError, match=named):
        await queue.enqueue("job", retry_delay=retry_delay)
    assert await queue.get_stats() == QueueStats()
    await queue.close()


def test_a_bad_policy_is_refused_on_the_handler() -> None:
    queue = create_queue(url="memory://")
    with pytest.raises(HandlerRegistrationError, match=r"Exponential\.factor"):
        queue.register("job", lambda job: None, retry_delay=Exponential(factor=0))
    assert "job" not in queue.handlers
    queue.register("job", lambda job: None, retry_delay=lambda attempt, job: attempt)
    assert issubclass(HandlerRegistrationError, ConveyorError)
