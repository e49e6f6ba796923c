"""A FastAPI app that hands slow work to conveyor and answers at once.

Run it from a clone of the repository (jobs go to ``CONVEYOR_URL``, default the
embedded SQLite file ``conveyor.db`` in the current folder):

    uvicorn examples.api_with_jobs:app

then upload a file (its content base64-encoded in a JSON body, so no multipart
dependency is needed) and follow the job it started:

    curl -si localhost:8000/upload -H 'content-type: application/json' \\
         -d '{"filename": "hello.txt", "content": "aGVsbG8gd29ybGQ="}'
    # HTTP/1.1 202 Accepted
    # location: /jobs/0J7...
    # {"id": "0J7..."}
    curl -s localhost:8000/jobs/0J7...
    # {"id": "0J7...", "status": "completed", "result": {"sha256": "...", ...}, ...}

The workers run inside the web process, started and stopped by the app's lifespan.
To run them as processes of their own instead, drop the lifespan and start
``conveyor worker examples.api_with_jobs:queue``: the endpoints stay the same.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel, Field

from conveyor import Job, create_queue

MAX_UPLOAD_BYTES = 1_000_000

queue = create_queue(workers=4)


@queue.handler("process-upload", max_retries=2, timeout=60)
async def process_upload(job: Job) -> dict[str, Any]:
    """The slow part of an upload: checksum, scan, make a preview (simulated here)."""
    data = base64.b64decode(job.payload["content"])
    steps = ("checksum", "virus scan", "preview")
    for index, step in enumerate(steps, start=1):
        await asyncio.sleep(0.05)  # stands for real work
        await job.progress(100 * index / len(steps), step)
    return {
        "filename": job.payload["filename"],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "lines": data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0),
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await queue.start()
    try:
        yield
    finally:
        # Running uploads get 10 s to finish; unfinished ones go back to the queue.
        await queue.stop(timeout=10)
        await queue.close()


app = FastAPI(title="conveyor upload example", lifespan=lifespan)


class Upload(BaseModel):
    """A file to process: its name and its content, base64-encoded."""

    filename: str = Field(min_length=1, max_length=255)
    content: str = Field(description="the file's bytes, base64-encoded")


class Accepted(BaseModel):
    """The answer to an upload: the id of the job processing it."""

    id: str


@app.post("/upload", status_code=202, response_model=Accepted)
async def upload(body: Upload, response: Response) -> Accepted:
    """Accept a file and process it in the background; 202 with the job's id."""
    try:
        data = base64.b64decode(body.content, validate=True)
    except (binascii.Error, ValueError):
        raise HTTPException(422, detail="content is not valid base64") from None
    if len(data) > MAX_UPLOAD_BYTES:
        # Real apps store big files (disk, S3) and enqueue their location, not bytes.
        raise HTTPException(413, detail=f"file larger than {MAX_UPLOAD_BYTES} bytes")
    job_id = await queue.enqueue(
        "process-upload", {"filename": body.filename, "content": body.content}
    )
    response.headers["Location"] = f"/jobs/{job_id}"
    return Accepted(id=job_id)


@app.get("/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, Any]:
    """A job's status, progress, result or error; 404 for an unknown id."""
    job = await queue.get_job(job_id)
    if job is None:
        raise HTTPException(404, detail=f"no job with id {job_id!r}")
    return {
        "id": job.id,
        "name": job.name,
        "status": job.status.value,
        "attempts": job.attempts,
        "progress": job.progress_percent,
        "progress_message": job.progress_message,
        "result": job.result,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "completed_at": _iso(job.completed_at),
    }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()
