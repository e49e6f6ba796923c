"""A conveyor backend's settings: its ``TASKS`` entry read, checked, and its priority map.

``TASKS = {"default": {"BACKEND": "conveyor.contrib.django.ConveyorBackend",
"QUEUES": ["default"], "OPTIONS": {...}}}``; the options are:

========================  ==============================================================
``url``                   the store (default: ``CONVEYOR_URL``, then
                          ``sqlite:///conveyor.db`` in the working folder)
``transactional``         PostgreSQL: write a task enqueued in ``transaction.atomic()``
                          in that very transaction, on Django's connection (default
                          ``False``: enqueue it once the transaction commits)
``database``              the Django database whose transactions count (``"default"``)
``workers``               jobs a worker process runs at once (4)
``lease``                 seconds before a silent worker's job goes to another (30)
``max_retries``           extra attempts after a failure (0: one attempt, as Django's
                          own backends make)
``retry_delay``           seconds before a retry (1)
``timeout``               seconds one attempt may run (``None``: no limit, as Django's)
``keep_completed``,       how long finished jobs are kept (seconds; default: for ever)
``keep_failed``
``age_after``             seconds after which a waiting job goes up one priority level
========================  ==============================================================

Problems are found without opening anything, and reported by Django's system checks
(``manage.py check``: ``conveyor.E001`` ...); building the queue with them raises
``InvalidTaskBackend``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ...definitions.settings import check_queue_name
from ...errors import ConveyorError
from ...job import JobPriority

QUEUE_OPTIONS = ("workers", "lease", "keep_completed", "keep_failed", "age_after")
"""Options that ``create_queue`` takes."""
JOB_OPTIONS = ("max_retries", "retry_delay", "timeout")
"""Options that become the Django tasks' job defaults."""
KNOWN_OPTIONS = frozenset({"url", "transactional", "database", *QUEUE_OPTIONS, *JOB_OPTIONS})
JOB_DEFAULTS: dict[str, Any] = {"max_retries": 0, "timeout": math.inf}
"""Django's semantics unless the options say otherwise: one attempt, no time limit."""


def conveyor_priority(priority: int) -> JobPriority:
    """Map a Django priority (-100 to 100, default 0) onto conveyor's four levels.

    Negative: LOW; 0 (Django's default): NORMAL; 1 to 49: HIGH; 50 to 100: CRITICAL.
    The map keeps order (a higher Django priority never runs after a lower one), and
    every priority but the default runs apart from it.
    """
    if priority < 0:
        return JobPriority.LOW
    if priority == 0:
        return JobPriority.NORMAL
    return JobPriority.HIGH if priority < 50 else JobPriority.CRITICAL


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a backend's settings, as a system check reports it."""

    id: str
    message: str
    hint: str | None = None


@dataclass
class BackendSettings:
    """What a backend's ``TASKS`` entry says, with what is wrong with it."""

    alias: str
    url: str | None = None
    transactional: bool = False
    database: str = "default"
    queues: tuple[str, ...] = ()
    queue_options: dict[str, Any] = field(default_factory=dict)
    job_defaults: dict[str, Any] = field(default_factory=lambda: dict(JOB_DEFAULTS))
    problems: list[Problem] = field(default_factory=list)

    def complain(self, id: str, message: str, hint: str | None = None) -> None:
        """Note a problem ``conveyor.<id>`` of backend ``alias``."""
        self.problems.append(Problem(f"conveyor.{id}", f"TASKS[{self.alias!r}]: {message}", hint))


def read_settings(alias: str, params: Mapping[str, Any]) -> BackendSettings:
    """Read a backend's ``TASKS`` entry; what is wrong lands in ``problems``."""
    found = BackendSettings(alias)
    _read_queues(found, params.get("QUEUES", ["default"]))
    options = params.get("OPTIONS", {})
    if not isinstance(options, Mapping):
        found.complain("E001", f"OPTIONS must be a dict, got {options!r}")
        return found
    unknown = sorted(set(options) - KNOWN_OPTIONS)
    if unknown:
        found.complain("E001", f"unknown OPTIONS {unknown}", f"known: {sorted(KNOWN_OPTIONS)}")
    url = options.get("url")
    if url is not None and not isinstance(url, str):
        found.complain("E002", f"OPTIONS['url'] must be a store URL string, got {url!r}")
    else:
        found.url = url
    transactional = options.get("transactional", False)
    if not isinstance(transactional, bool):
        found.complain(
            "E003", f"OPTIONS['transactional'] must be True or False, got {transactional!r}"
        )
    found.transactional = transactional is True
    database = options.get("database", "default")
    if not isinstance(database, str):
        found.complain("E006", f"OPTIONS['database'] must be a database alias, got {database!r}")
    else:
        found.database = database
    found.queue_options = {key: options[key] for key in QUEUE_OPTIONS if key in options}
    for key in JOB_OPTIONS:
        if key in options:
            value = options[key]
            found.job_defaults[key] = math.inf if key == "timeout" and value is None else value
    return found


def _read_queues(found: BackendSettings, queues: object) -> None:
    if isinstance(queues, str) or not isinstance(queues, list | tuple | set | frozenset):
        found.complain("E004", f"QUEUES must be a list of queue names, got {queues!r}")
        return
    names = sorted(queues) if isinstance(queues, set | frozenset) else list(queues)
    if not names:
        found.complain(
            "E004",
            "QUEUES is empty: conveyor workers serve the queues it lists",
            'list them, e.g. "QUEUES": ["default"]',
        )
        return
    for name in names:
        try:
            check_queue_name(name)
        except ConveyorError as exc:
            found.complain("E004", f"QUEUES: {exc}")
            return
    found.queues = tuple(dict.fromkeys(names))


def check_transactional(found: BackendSettings, databases: Mapping[str, Any]) -> None:
    """Check what ``transactional`` needs: PostgreSQL on both sides, psycopg 3."""
    if found.database not in databases:
        found.complain("E006", f"OPTIONS['database'] {found.database!r} is not in DATABASES")
        return
    if not found.transactional:
        return
    url = found.url or ""
    if not url.startswith(("postgresql://", "postgres://")):
        found.complain(
            "E003",
            "OPTIONS['transactional'] needs a postgresql:// store URL",
            "the job is written on Django's own connection, in its transaction",
        )
        return
    database = databases[found.database]
    if "postgresql" not in str(database.get("ENGINE", "")):
        found.complain(
            "E003", f"OPTIONS['transactional'] needs DATABASES[{found.database!r}] on PostgreSQL"
        )
        return
    from django.db.backends.postgresql.psycopg_any import is_psycopg3

    if not is_psycopg3:
        found.complain("E003", "OPTIONS['transactional'] needs Django on psycopg 3, not psycopg2")
        return
    name = urlsplit(url).path.lstrip("/")
    if name and database.get("NAME") and name != database["NAME"]:
        found.complain(
            "W001",
            f"the store URL names database {name!r}, DATABASES[{found.database!r}]"
            f" {database['NAME']!r}: the job must be written where Django's transaction is",
        )
