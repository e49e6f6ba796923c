"""The upload endpoint of ``api_with_jobs.py`` in Flask, on conveyor's blocking API.

Flask views are plain functions, so they use ``queue.sync`` (no event loop needed);
the jobs run in worker processes of their own. From a clone of the repository:

    flask --app examples.flask_upload run                      # the web process
    conveyor worker examples.flask_upload:queue                # one or more workers

    curl -si localhost:5000/upload -H 'content-type: application/json' \\
         -d '{"filename": "hello.txt", "content": "aGVsbG8gd29ybGQ="}'
    # HTTP/1.1 202 ACCEPTED, Location: /jobs/01JQ..., {"id": "01JQ..."}
    curl -s localhost:5000/jobs/01JQ...
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any

from flask import Flask, jsonify, request

from conveyor import Job, create_queue

MAX_UPLOAD_BYTES = 1_000_000

queue = create_queue(workers=4)
app = Flask(__name__)


@queue.handler("process-upload", max_retries=2, timeout=60)
def process_upload(job: Job) -> dict[str, Any]:
    """The slow part of an upload (a plain function: it runs on a worker's thread)."""
    data = base64.b64decode(job.payload["content"])
    job.sync.progress(50, "checksum")
    return {
        "filename": job.payload["filename"],
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


@app.post("/upload")
def upload() -> Any:
    """Accept a file and process it in the background: 202 with the job's id."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("filename"), str):
        return jsonify(error="send JSON with 'filename' and base64 'content'"), 422
    try:
        data = base64.b64decode(str(body.get("content", "")), validate=True)
    except (binascii.Error, ValueError):
        return jsonify(error="content is not valid base64"), 422
    if len(data) > MAX_UPLOAD_BYTES:
        return jsonify(error=f"file larger than {MAX_UPLOAD_BYTES} bytes"), 413
    job_id = queue.sync.enqueue(
        "process-upload", {"filename": body["filename"], "content": body["content"]}
    )
    return jsonify(id=job_id), 202, {"Location": f"/jobs/{job_id}"}


@app.get("/jobs/<job_id>")
def job_status(job_id: str) -> Any:
    """A job's status, progress, result or error; 404 for an unknown id."""
    job = queue.sync.get_job(job_id)
    if job is None:
        return jsonify(error=f"no job with id {job_id!r}"), 404
    return jsonify(job.to_dict())
