"""A form that enqueues a task, and a page that follows the task to its result."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from .models import Report
from .tasks import count_primes


def index(request: HttpRequest) -> HttpResponse:
    reports = Report.objects.order_by("-id")[:10]
    return render(request, "shop/index.html", {"reports": reports})


@require_POST
def create_report(request: HttpRequest) -> HttpResponse:
    n = int(request.POST.get("n", "1000"))
    with transaction.atomic():
        report = Report.objects.create(n=n)
        # Stored once this transaction commits (or inside it, where the store is this
        # PostgreSQL database): a worker never looks for a report that is not there yet.
        result = count_primes.enqueue(report.pk)
        report.task_id = result.id
        report.save(update_fields=["task_id"])
    return redirect("report", pk=report.pk)


def report(request: HttpRequest, pk: int) -> HttpResponse:
    report = get_object_or_404(Report, pk=pk)
    result = count_primes.get_result(report.task_id)
    state = {
        "report": report.pk,
        "task": result.id,
        "status": result.status,
        "attempts": result.attempts,
        "enqueued_at": result.enqueued_at,
        "finished_at": result.finished_at,
        "return_value": result.return_value if result.status == "SUCCESSFUL" else None,
        "errors": [error.traceback for error in result.errors],
        "primes": report.primes,
    }
    if request.GET.get("format") == "json":
        return JsonResponse(state)
    return render(request, "shop/report.html", {"state": state, "finished": result.is_finished})
