"""Enqueue from FastAPI: 202 with the job's id at once, and an endpoint for its status.

Serve it with ``uvicorn fastapi_app:app``: the workers run in the web process.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from pydantic import BaseModel

from conveyor import Job, create_queue
from conveyor.http import conveyor_app

queue = create_queue()


@queue.handler("make-thumbnail", timeout=60)
async def make_thumbnail(job: Job) -> dict[str, str]:
    """Make the thumbnail (the slow part, run by a worker)."""
    await asyncio.sleep(0.05)  # stands for real work
    await job.progress(100, "done")
    return {"thumbnail": f"thumbs/{job.payload['image']}"}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Run the queue's workers in this process while the app serves."""
    await queue.start()
    try:
        yield
    finally:
        await queue.stop(timeout=10)  # running jobs get 10 s, then go back to the queue
        await queue.close()


app = FastAPI(lifespan=lifespan)
app.mount("/conveyor", conveyor_app(queue))  # the REST API and dashboard, at /conveyor/


class Thumbnail(BaseModel):
    """What to make a thumbnail of."""

    image: str


@app.post("/thumbnails", status_code=202)
async def create_thumbnail(body: Thumbnail, response: Response) -> dict[str, str]:
    """Hand the work to the queue and answer at once."""
    job_id = await queue.enqueue("make-thumbnail", {"image": body.image})
    response.headers["Location"] = f"/jobs/{job_id}"
    return {"id": job_id}


@app.get("/jobs/{job_id}")
async def job_status(job_id: str) -> dict[str, Any]:
    """Return the job's status, progress, result or error; 404 for an unknown id."""
    job = await queue.get_job(job_id)
    if job is None:
        raise HTTPException(404, detail=f"no job {job_id!r}")
    return {
        "id": job.id,
        "status": job.status.value,
        "progress": job.progress_percent,
        "result": job.result,
        "error": job.error,
    }
