"""A report: how many primes there are below ``n``, counted by a task."""

from django.db import models


class Report(models.Model):
    n = models.PositiveIntegerField()
    primes = models.PositiveIntegerField(null=True)
    task_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
