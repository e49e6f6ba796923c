"""Django set up in the test process (the ``djapp`` project), and TASKS on a fresh store.

Importing this module configures Django once for the session from ``djapp.settings``
(without ``DJANGO_SETTINGS_MODULE``, so other tests' child processes do not inherit
it). :func:`tasks_on` points the ``default`` backend at a store for one test and
closes that store afterwards.
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import django
from django.conf import settings
from django.test.utils import override_settings

if not settings.configured:
    from djapp import settings as djapp_settings

    settings.configure(
        **{name: getattr(djapp_settings, name) for name in dir(djapp_settings) if name.isupper()}
    )
    django.setup()

from conveyor.contrib.django import ConveyorBackend
from conveyor.contrib.django.compat import task_backends

BACKEND = "conveyor.contrib.django.ConveyorBackend"
QUEUES = ["default", "emails"]


def sqlite_database() -> str:
    """The file of Django's own SQLite database in this process."""
    return str(settings.DATABASES["default"]["NAME"])


@contextmanager
def tasks_on(
    url: str, queues: list[str] | None = None, **options: Any
) -> Iterator[ConveyorBackend]:
    """Point TASKS["default"] at ``url`` (with ``options``); yield its backend."""
    config = {"default": {"BACKEND": BACKEND, "QUEUES": queues or QUEUES,
                          "OPTIONS": {"url": url, **options}}}  # fmt: skip
    with override_settings(TASKS=config):
        backend = task_backends["default"]
        assert isinstance(backend, ConveyorBackend)
        try:
            yield backend
        finally:
            backend.close()


def remove_sqlite_database() -> None:
    """Delete Django's SQLite file of this process (at the end of the session)."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        path = sqlite_database() + suffix
        if os.path.exists(path):
            os.remove(path)


atexit.register(remove_sqlite_database)
