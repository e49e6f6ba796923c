"""Settings of the example site: Django's tasks on conveyor.

``CONVEYOR_URL`` picks the store (default: ``conveyor.db`` beside this project) and
``DATABASE_URL`` Django's database (default: ``db.sqlite3`` here; a
``postgresql://user@host:5432/name`` URL for PostgreSQL). With both on the same
PostgreSQL database a task is written in the view's own transaction.
"""

from __future__ import annotations

import os
from importlib.util import find_spec
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "mysite.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    *(["django_tasks"] if find_spec("django.tasks") is None else []),  # Django < 6
    "conveyor.contrib.django",  # manage.py conveyor, and the backend's system checks
    "shop",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": ["django.template.context_processors.request"]},
    }
]
STATIC_URL = "static/"


def _database(url: str) -> dict[str, str]:
    if not url.startswith(("postgresql://", "postgres://")):
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": url or str(BASE_DIR / "db.sqlite3")}
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }


DATABASES = {"default": _database(os.environ.get("DATABASE_URL", ""))}

CONVEYOR_URL = os.environ.get("CONVEYOR_URL") or f"sqlite:///{BASE_DIR / 'conveyor.db'}"
TASKS = {
    "default": {
        "BACKEND": "conveyor.contrib.django.ConveyorBackend",
        "QUEUES": ["default"],
        "OPTIONS": {
            "url": CONVEYOR_URL,
            # the job in the view's own transaction where Django's database is the store's
            "transactional": CONVEYOR_URL.startswith("postgres")
            and DATABASES["default"]["ENGINE"].endswith("postgresql"),
            "max_retries": 2,
        },
    }
}
