"""Enqueue from Flask, on the blocking API: 202 with the job's id, and its status.

The web process: ``flask --app flask_app run``; the workers, as many as needed:
``conveyor worker flask_app:queue``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify, request

from conveyor import Job, create_queue

queue = create_queue()
app = Flask(__name__)


@queue.handler("make-thumbnail", timeout=60)
def make_thumbnail(job: Job) -> dict[str, str]:
    """Make the thumbnail (a plain function: it runs on a worker's thread)."""
    job.sync.progress(100, "done")
    return {"thumbnail": f"thumbs/{job.payload['image']}"}


@app.post("/thumbnails")
def create_thumbnail() -> Any:
    """Hand the work to the queue and answer at once."""
    job_id = queue.sync.enqueue("make-thumbnail", {"image": request.get_json()["image"]})
    return jsonify(id=job_id), 202, {"Location": f"/jobs/{job_id}"}


@app.get("/jobs/<job_id>")
def job_status(job_id: str) -> Any:
    """Return the job's status, progress, result or error; 404 for an unknown id."""
    job = queue.sync.get_job(job_id)
    if job is None:
        return jsonify(error=f"no job {job_id!r}"), 404
    return jsonify(
        id=job.id,
        status=job.status.value,
        progress=job.progress_percent,
        result=job.result,
        error=job.error,
    )
