"""Settings of the test project; the tests point TASKS at a fresh store each.

Django's own database is a SQLite file (``DJAPP_SQLITE``, else one in the temporary
folder) and, as ``"pg"``, the local PostgreSQL server (``CONVEYOR_TEST_POSTGRES``).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from importlib.util import find_spec
from urllib.parse import urlsplit

_PG = urlsplit(
    os.environ.get("CONVEYOR_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
)

SECRET_KEY = "tests-only"
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = [
    *(["django_tasks"] if find_spec("django.tasks") is None else []),
    "conveyor.contrib.django",
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DJAPP_SQLITE")
        or os.path.join(tempfile.gettempdir(), f"djapp-{uuid.uuid4().hex[:10]}.sqlite3"),
    },
    "pg": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": _PG.path.lstrip("/") or "postgres",
        "USER": _PG.username or "postgres",
        "PASSWORD": _PG.password or "",
        "HOST": _PG.hostname or "127.0.0.1",
        "PORT": str(_PG.port or 5432),
    },
}
TASKS = {
    "default": {
        "BACKEND": "conveyor.contrib.django.ConveyorBackend",
        "QUEUES": ["default", "emails"],
        "OPTIONS": {"url": "memory://"},
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
