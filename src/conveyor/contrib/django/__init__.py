"""conveyor as the backend of Django's tasks (``django.tasks``, or the ``django-tasks`` backport).

``pip install 'conveyor[django]'``, then in the settings::

    INSTALLED_APPS = [..., "conveyor.contrib.django"]     # manage.py conveyor, checks
    TASKS = {
        "default": {
            "BACKEND": "conveyor.contrib.django.ConveyorBackend",
            "QUEUES": ["default"],
            "OPTIONS": {"url": "sqlite:////srv/mysite/conveyor.db"},
        }
    }

and run the tasks with ``python manage.py conveyor worker``. The options are in
:mod:`.settings`, how tasks map onto jobs in :mod:`.results`, transactions in
:mod:`.backend`, the worker in :mod:`.runner` and :mod:`.worker`.
"""

from .backend import ConveyorBackend, TaskQueue

__all__ = ["ConveyorBackend", "TaskQueue"]
