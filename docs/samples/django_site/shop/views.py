"""Django views that hand work to conveyor: 202 with the job's id, and its status."""

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET, require_POST

from .jobs import queue


@require_POST
def place_order(request: HttpRequest) -> JsonResponse:
    """Take the order, and send its confirmation in the background."""
    email = json.loads(request.body)["email"]
    job_id = queue.sync.enqueue("send-confirmation", {"email": email})
    response = JsonResponse({"id": job_id}, status=202)
    response["Location"] = f"/jobs/{job_id}"
    return response


@require_GET
def job_status(request: HttpRequest, job_id: str) -> JsonResponse:
    """Return the job's status, result or error; 404 for an unknown id."""
    job = queue.sync.get_job(job_id)
    if job is None:
        return JsonResponse({"error": f"no job {job_id!r}"}, status=404)
    return JsonResponse(
        {"id": job.id, "status": job.status.value, "result": job.result, "error": job.error}
    )
