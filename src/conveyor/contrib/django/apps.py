"""The Django app of ``conveyor.contrib.django``: ``manage.py conveyor`` and the checks."""

from __future__ import annotations

from django.apps import AppConfig


class ConveyorConfig(AppConfig):  # type: ignore[misc]  # Django is untyped
    """Put ``"conveyor.contrib.django"`` in ``INSTALLED_APPS`` for ``manage.py conveyor``."""

    name = "conveyor.contrib.django"
    label = "conveyor"
    verbose_name = "conveyor"

    def ready(self) -> None:
        """Register the task framework's system checks (``compat`` does on import)."""
        from . import compat  # noqa: F401
