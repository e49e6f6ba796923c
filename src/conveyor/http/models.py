"""The API's request and response bodies (they make the OpenAPI document precise).

Numbers are bounded here where a store could not hold them (a 64-bit overflow, a date
past year 9999), and names may not hold NUL, which PostgreSQL text refuses.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["LOW", "NORMAL", "HIGH", "CRITICAL"] | int
NO_NUL = r"^[^\x00]+$"
TEN_YEARS = 10 * 366 * 86400.0


class EnqueueRequest(BaseModel):
    """A job to enqueue; options left out come from the handler's defaults."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=NO_NUL)
    payload: Any = None
    max_retries: int | None = Field(default=None, ge=0, le=10_000)
    retry_delay: float | None = Field(default=None, ge=0, le=TEN_YEARS)
    timeout: float | None = Field(default=None, gt=0, le=TEN_YEARS)
    priority: Priority | None = None
    delay: float | None = Field(default=None, ge=0, le=TEN_YEARS, description="Seconds from now.")
    scheduled_at: datetime | None = Field(default=None, description="ISO 8601, with offset.")
    queue: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL)
    key: str | None = Field(
        default=None,
        min_length=1,
        max_length=512,
        pattern=NO_NUL,
        description="Unique key: while a job of this key waits or runs, its id is answered.",
    )
    unique_for: float | None = Field(
        default=None, gt=0, le=TEN_YEARS, description="Seconds the key stays taken."
    )


class Enqueued(BaseModel):
    """The id of the job just enqueued."""

    id: str


class JobOut(BaseModel):
    """A job as the store holds it."""

    id: str
    name: str
    queue: str
    status: str
    payload: Any = None
    result: Any = None
    error: str | None = None
    traceback: str | None = None
    attempts: int
    max_retries: int
    retry_delay: float
    timeout: float | None = None
    priority: str
    scheduled_at: str | None = None
    created_at: str | None = None
    started_at: str | None = None
    completed_at: str | None = None
    progress_percent: float | None = None
    progress_message: str | None = None


class JobPage(BaseModel):
    """A page of jobs in one status, oldest first."""

    status: str
    limit: int
    offset: int
    jobs: list[JobOut]


class Stats(BaseModel):
    """How many jobs of the queue are in each status."""

    queue: str
    pending: int
    scheduled: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    total: int


class Count(BaseModel):
    """How many jobs an operation changed."""

    count: int


class ScheduleOut(BaseModel):
    """A recurring schedule: what it is, when it runs next, how it last ran."""

    key: str
    name: str
    schedule: str
    timezone: str
    next_run: datetime | None
    last_run: datetime | None
    last_job_id: str | None
    paused: bool
    last_seen: datetime
    stale: bool


class WorkerOut(BaseModel):
    """A worker process alive on the store."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: datetime
    seen_at: datetime
    running: list[str]


class ErrorDetail(BaseModel):
    """What went wrong."""

    type: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail
