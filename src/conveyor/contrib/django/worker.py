"""The queue a ``conveyor worker`` runs Django tasks from: ``conveyor.contrib.django.worker:queue``.

Importing this module sets Django up (``django.setup()``, from
``DJANGO_SETTINGS_MODULE``) unless it is set up already, and builds the conveyor queue
of the ``TASKS`` backend named by ``CONVEYOR_DJANGO_BACKEND`` (default ``"default"``)::

    DJANGO_SETTINGS_MODULE=mysite.settings conveyor worker conveyor.contrib.django.worker:queue

``manage.py conveyor worker`` runs the same (and sets both variables, so the processes a
worker starts inherit them). The worker serves every queue in the backend's ``QUEUES``
unless told ``--queue``; it needs no list of tasks, it imports each by its module path.
"""

from __future__ import annotations

import os

from ...errors import ConfigurationError

BACKEND_VARIABLE = "CONVEYOR_DJANGO_BACKEND"
"""The environment variable naming the ``TASKS`` backend a worker serves."""


def _set_up() -> None:
    import django
    from django.apps import apps
    from django.core.exceptions import ImproperlyConfigured

    if apps.ready:
        return
    if not os.environ.get("DJANGO_SETTINGS_MODULE"):
        raise ConfigurationError(
            "set DJANGO_SETTINGS_MODULE (e.g. mysite.settings) to run Django tasks,"
            " or run: python manage.py conveyor worker"
        )
    try:
        django.setup()
    except ImproperlyConfigured as exc:
        raise ConfigurationError(f"Django could not be set up: {exc}") from exc


_set_up()

from .backend import TaskQueue, queue_of  # noqa: E402  (needs Django set up)

queue: TaskQueue = queue_of(os.environ.get(BACKEND_VARIABLE) or "default")
"""The conveyor queue of the backend: what ``conveyor worker`` runs."""
