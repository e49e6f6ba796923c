"""The worker's entry point: set Django up, then give conveyor the queue.

Start workers with ``conveyor worker mysite.worker:queue`` from the project's folder.
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mysite.settings")
django.setup()  # before the handlers run: they may use the ORM

from shop.jobs import queue  # noqa: E402

__all__ = ["queue"]
