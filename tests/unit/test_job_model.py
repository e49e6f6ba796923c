"""JobStatus, JobPriority, JobConfig, QueueStats and the Job's own methods."""

from __future__ import annotations

import asyncio
import math

import pytest

from conveyor import (
    InvalidJobError,
    Job,
    JobCancelledError,
    JobConfig,
    JobPriority,
    JobStatus,
    QueueStats,
)
from conveyor.job import ask_cancel, begin_attempt, check_priority


def test_job_status_values_and_text() -> None:
    assert [s.value for s in JobStatus] == [
        "pending", "scheduled", "processing", "completed", "failed", "cancelled",
    ]  # fmt: skip
    assert JobStatus("completed") is JobStatus.COMPLETED
    assert JobStatus.COMPLETED == "completed"
    assert str(JobStatus.COMPLETED) == "JobStatus.COMPLETED"  # what the quick start prints
    assert f"{JobStatus.FAILED}" == "JobStatus.FAILED"
    with pytest.raises(ValueError, match="'done'"):
        JobStatus("done")


def test_only_end_states_are_finished() -> None:
    finished = {s for s in JobStatus if s.is_finished}
    assert finished == {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}


def test_job_priority_values_and_order() -> None:
    assert [(p.name, int(p)) for p in JobPriority] == [
        ("LOW", 0), ("NORMAL", 1), ("HIGH", 2), ("CRITICAL", 3),
    ]  # fmt: skip
    assert JobPriority.LOW < JobPriority.NORMAL < JobPriority.HIGH < JobPriority.CRITICAL


@pytest.mark.parametrize("value", [0, 1, 2, 3, *JobPriority])
def test_check_priority_accepts_the_four_levels(value: int) -> None:
    assert check_priority(value) is JobPriority(value)


@pytest.mark.parametrize("value", [5, -1, 4, "high", "HIGH", True, False, 1.0, None])
def test_check_priority_refuses_anything_else(value: object) -> None:
    with pytest.raises(InvalidJobError, match="priority"):
        check_priority(value)


def test_job_config_defaults_are_the_documented_ones() -> None:
    config = JobConfig()
    assert (config.max_retries, config.retry_delay, config.timeout) == (3, 1.0, 30.0)
    assert config.priority is JobPriority.NORMAL
    assert (config.scheduled_at, config.backoff) == (None, None)


def test_queue_stats_total() -> None:
    assert QueueStats().total == 0
    stats = QueueStats(pending=1, scheduled=2, processing=3, completed=4, failed=5, cancelled=6)
    assert stats.total == 21


def make_job() -> Job:
    return Job("01TEST", "job", "default", None, JobStatus.PROCESSING, JobConfig())


async def test_progress_outside_a_running_handler_is_refused() -> None:
    job = make_job()
    with pytest.raises(InvalidJobError, match="handler running the job"):
        await job.progress(10)
    with pytest.raises(InvalidJobError, match="handler running the job"):
        job.sync.progress(10)


@pytest.mark.parametrize("percent", [-1, 100.5, math.nan, True, "50", None])
async def test_progress_must_be_a_number_from_0_to_100(percent: object) -> None:
    job = make_job()
    calls: list[float] = []

    async def reporter(job: Job, value: float, message: str | None) -> None:
        calls.append(value)

    begin_attempt(job, reporter, asyncio.get_running_loop())
    with pytest.raises(InvalidJobError, match="0 to 100"):
        await job.progress(percent)  # type: ignore[arg-type]
    await job.progress(0)
    await job.progress(100, "done")
    assert calls == [0.0, 100.0]
    assert (job.progress_percent, job.progress_message) == (100.0, "done")


def test_a_job_knows_when_it_was_cancelled() -> None:
    job = make_job()
    assert job.cancelled is False
    job.raise_if_cancelled()
    ask_cancel(job)  # as the worker does
    assert job.cancelled is True
    with pytest.raises(JobCancelledError, match="01TEST"):
        job.raise_if_cancelled()
