"""The REST API of one queue, as an ASGI app to serve alone or mount in another."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from ..client.queue import Queue
from ..errors import InvalidJobError, JobNotFoundError
from ..job import Job, JobPriority, JobStatus
from ..metrics import Metrics
from . import errors
from .events import EventHub, parse_last_event_id
from .models import (
    NO_NUL,
    Count,
    Enqueued,
    EnqueueRequest,
    ErrorBody,
    JobOut,
    JobPage,
    ScheduleOut,
    Stats,
    WorkerOut,
)
from .security import Guard

MAX_BODY = 1_048_576
"""Bytes a request body may hold by default."""
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (400, 401, 403, 404, 409, 413, 422, 503)
}
_StatusName = Annotated[JobStatus, Query(description="pending, scheduled, processing, ...")]


def conveyor_app(queue: Queue, *, token: str | None = None, max_body: int = MAX_BODY) -> Any:
    """Return the ASGI app of ``queue``'s REST API (``/api/...``, ``/openapi.json``).

    With metrics enabled on the queue (:meth:`Queue.enable_metrics`), ``/metrics`` serves
    them for Prometheus.

    ``token``: every request must send ``Authorization: Bearer <token>``. Serve it with
    ``conveyor serve`` or any ASGI server, or mount it: ``app.mount("/conveyor", ...)``.
    """
    api = FastAPI(title=f"conveyor: queue {queue.name}", responses=ERRORS, docs_url="/docs")
    errors.install(api)
    _job_routes(api, queue)
    _steering_routes(api, queue)
    _bulk_routes(api, queue)
    _schedule_routes(api, queue)
    _worker_routes(api, queue)
    _event_routes(api, EventHub(queue))
    _dashboard_routes(api)
    if queue.metrics is not None:
        _metrics_route(api, queue.metrics)
    return Guard(api, token=token, max_body=max_body)


def _metrics_route(api: FastAPI, metrics: Metrics) -> None:
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    @api.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Serve the queue's Prometheus metrics (the store is read on this thread)."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


STATIC = FilePath(__file__).with_name("static")
# The dashboard loads nothing but its own files: no inline script can run in it.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _dashboard_routes(api: FastAPI) -> None:
    @api.get("/", include_in_schema=False)
    async def dashboard(request: Request) -> Response:
        """Serve the dashboard: one page over this API (its links are relative to it)."""
        if not request.url.path.endswith("/"):
            return RedirectResponse(f"{request.url.path}/")
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    api.mount("/static", StaticFiles(directory=STATIC), name="static")


def _job_routes(api: FastAPI, queue: Queue) -> None:
    @api.post("/api/jobs", status_code=202, response_model=Enqueued)
    async def enqueue(body: EnqueueRequest, request: Request, response: Response) -> Enqueued:
        """Enqueue a job; the answer's Location is its status."""
        options = body.model_dump(exclude_none=True, exclude={"name", "payload"})
        if isinstance(options.get("priority"), str):
            options["priority"] = JobPriority[options["priority"]]
        for seconds in ("retry_delay", "timeout", "delay", "unique_for"):
            if seconds in options and not math.isfinite(options[seconds]):
                raise InvalidJobError(f"{seconds} must be a finite number of seconds")
        job_id = await queue.enqueue(body.name, body.payload, **options)
        response.headers["Location"] = f"{request.scope.get('root_path', '')}/api/jobs/{job_id}"
        return Enqueued(id=job_id)

    @api.get("/api/jobs/{job_id}", response_model=JobOut)
    async def get_job(job_id: str) -> JSONResponse:
        """Return one job."""
        return _job_response(await _find(queue, job_id))

    @api.get("/api/jobs", response_model=JobPage)
    async def list_jobs(
        status: _StatusName = JobStatus.PENDING,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> JSONResponse:
        """Return a page of the queue's jobs in one status, oldest first."""
        found = await queue.get_jobs_by_status(status, limit=limit, offset=offset)
        page = {"status": status.value, "limit": limit, "offset": offset,
                "jobs": [_jsonable(job) for job in found]}  # fmt: skip
        return JSONResponse(page)

    @api.get("/api/stats", response_model=Stats)
    async def stats() -> Stats:
        """Count the queue's jobs per status."""
        counts = await queue.get_stats()
        return Stats(queue=queue.name, total=counts.total, **dataclasses.asdict(counts))


def _steering_routes(api: FastAPI, queue: Queue) -> None:
    @api.post("/api/jobs/{job_id}/retry", response_model=JobOut)
    async def retry(job_id: str) -> JSONResponse:
        """Send a failed or cancelled job back to pending (409 if it is neither)."""
        job = await _find(queue, job_id)
        if not await queue.retry_job(job_id):
            return errors.error_response(409, "Conflict", f"job {job_id} is {job.status.value},"
                                         " not failed or cancelled")  # fmt: skip
        return _job_response(await _find(queue, job_id))

    @api.post("/api/jobs/{job_id}/cancel", response_model=JobOut)
    async def cancel(job_id: str) -> JSONResponse:
        """Cancel a waiting job, or ask a running one to stop (409 if it finished)."""
        job = await _find(queue, job_id)
        if not await queue.cancel(job_id):
            return errors.error_response(409, "Conflict", f"job {job_id} already"
                                         f" {job.status.value}")  # fmt: skip
        return _job_response(await _find(queue, job_id))

    @api.delete("/api/jobs/{job_id}", status_code=204)
    async def delete(job_id: str) -> Response:
        """Delete a job that is not running (409 if it runs)."""
        await _find(queue, job_id)
        if not await queue.delete_job(job_id):
            return errors.error_response(409, "Conflict", f"job {job_id} is running; cancel it")
        return Response(status_code=204)


def _bulk_routes(api: FastAPI, queue: Queue) -> None:
    @api.post("/api/jobs/clear-completed", response_model=Count)
    async def clear_completed() -> Count:
        """Delete the queue's completed jobs."""
        return Count(count=await queue.clear_completed())

    @api.post("/api/jobs/retry-failed", response_model=Count)
    async def retry_failed() -> Count:
        """Send every failed job of the queue back to pending."""
        return Count(count=await queue.retry_jobs(JobStatus.FAILED))


def _worker_routes(api: FastAPI, queue: Queue) -> None:
    @api.get("/api/workers", response_model=list[WorkerOut])
    async def workers() -> list[WorkerOut]:
        """List the worker processes alive on the store, with the jobs they run."""
        return [WorkerOut.model_validate(dataclasses.asdict(w)) for w in await queue.get_workers()]


def _schedule_routes(api: FastAPI, queue: Queue) -> None:
    @api.get("/api/schedules", response_model=list[ScheduleOut])
    async def schedules() -> list[ScheduleOut]:
        """List the queue's recurring schedules."""
        found = await queue.get_schedules()
        return [ScheduleOut.model_validate(dataclasses.asdict(info)) for info in found]

    @api.post("/api/schedules/{key}/pause", response_model=Count)
    async def pause(key: Annotated[str, Path(pattern=NO_NUL)]) -> Count:
        """Stop a schedule from firing until resumed."""
        await queue.pause_schedule(key)
        return Count(count=1)

    @api.post("/api/schedules/{key}/resume", response_model=Count)
    async def resume(key: Annotated[str, Path(pattern=NO_NUL)]) -> Count:
        """Let a paused schedule fire again, from its next tick."""
        await queue.resume_schedule(key)
        return Count(count=1)


def _event_routes(api: FastAPI, hub: EventHub) -> None:
    @api.get("/api/events", response_class=StreamingResponse)
    async def stream_events(
        job_id: str | None = None,
        last_event_id: Annotated[str | None, Header()] = None,
    ) -> StreamingResponse:
        """Server-sent events of job lifecycle events (resumable with Last-Event-ID)."""
        stream = hub.stream(parse_last_event_id(last_event_id), job_id)
        return StreamingResponse(stream, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})  # fmt: skip


async def _find(queue: Queue, job_id: str) -> Job:
    job = None if "\x00" in job_id else await queue.get_job(job_id)
    if job is None:
        raise JobNotFoundError(f"no job with id {job_id!r}")
    return job


def _jsonable(job: Job) -> dict[str, Any]:
    """Return the job's JSON form; a payload or result JSON cannot hold becomes its repr."""
    data = job.to_dict()
    for key in ("payload", "result"):
        try:
            json.dumps(data[key])
        except (TypeError, ValueError):
            data[key] = repr(data[key])
    return data


def _job_response(job: Job) -> JSONResponse:
    return JSONResponse(_jsonable(job))
