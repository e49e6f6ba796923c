"""The site's task: a plain function, found by the worker by its module path."""

from __future__ import annotations

from math import isqrt

try:
    from django.tasks import task
except ImportError:  # Django < 6: the django-tasks backport
    from django_tasks import task

from .models import Report


@task
def count_primes(report_id: int) -> dict[str, int]:
    """Count the primes below the report's ``n``; store and return the count."""
    report = Report.objects.get(pk=report_id)
    primes = sum(1 for k in range(2, report.n) if all(k % d for d in range(2, isqrt(k) + 1)))
    report.primes = primes
    report.save(update_fields=["primes"])
    return {"n": report.n, "primes": primes}
