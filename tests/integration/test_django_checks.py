"""Django's system checks of a conveyor backend, and ``manage.py conveyor``'s command line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test.utils import override_settings
from django_env import BACKEND, tasks_on

from conveyor.contrib.django.compat import task_backends
from conveyor.contrib.django.management.commands.conveyor import TARGET, cli_arguments


@pytest.fixture
def configured() -> Iterator[Any]:
    """Check the backend a TASKS entry makes: ``configured(QUEUES=..., OPTIONS=...)``."""
    made: list[Any] = []

    def check(**entry: Any) -> list[tuple[str, str]]:
        entry.setdefault("QUEUES", ["default", "emails"])
        with override_settings(TASKS={"default": {"BACKEND": BACKEND, **entry}}):
            backend = task_backends["default"]
            made.append(backend)
            return [(message.id, message.msg) for message in backend.check()]

    yield check
    for backend in made:
        backend.close()


def ids(found: list[tuple[str, str]]) -> list[str]:
    return [id for id, _ in found]


def test_a_good_configuration_has_no_problem(configured: Any) -> None:
    assert configured(OPTIONS={"url": "memory://", "workers": 2, "max_retries": 3}) == []
    assert configured(OPTIONS={"url": "postgresql://db/postgres", "transactional": True,
                               "database": "pg"}) == []  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "problem", "words"),
    [
        ({"OPTIONS": {"url": "memory://", "colour": "blue"}}, "conveyor.E001", "colour"),
        ({"OPTIONS": ["url", "memory://"]}, "conveyor.E001", "must be a dict"),
        ({"OPTIONS": {"url": "mysql://db/app"}}, "conveyor.E002", "mysql"),
        ({"OPTIONS": {"url": 42}}, "conveyor.E002", "store URL"),
        ({"OPTIONS": {"url": "sqlite:///x.db", "transactional": True}}, "conveyor.E003",
         "postgresql://"),
        ({"OPTIONS": {"url": "postgresql://db/app", "transactional": True}}, "conveyor.E003",
         "DATABASES['default'] on PostgreSQL"),
        ({"OPTIONS": {"url": "memory://", "transactional": "yes"}}, "conveyor.E003",
         "True or False"),
        ({"QUEUES": [], "OPTIONS": {"url": "memory://"}}, "conveyor.E004", "QUEUES is empty"),
        ({"QUEUES": "default", "OPTIONS": {"url": "memory://"}}, "conveyor.E004", "a list"),
        ({"QUEUES": ["default", "x" * 201], "OPTIONS": {"url": "memory://"}}, "conveyor.E004",
         "at most 200"),
        ({"OPTIONS": {"url": "memory://", "workers": 0}}, "conveyor.E005", "workers"),
        ({"OPTIONS": {"url": "memory://", "max_retries": -1}}, "conveyor.E005", "max_retries"),
        ({"OPTIONS": {"url": "memory://", "database": "missing"}}, "conveyor.E006", "missing"),
    ],
)  # fmt: skip
def test_bad_configurations_are_reported(
    configured: Any, entry: dict[str, Any], problem: str, words: str
) -> None:
    found = configured(**entry)
    assert problem in ids(found), found
    assert any(words in message for _, message in found), found


def test_a_transactional_store_in_another_database_is_a_warning(configured: Any) -> None:
    found = configured(OPTIONS={"url": "postgresql://db/elsewhere", "transactional": True,
                                "database": "pg"})  # fmt: skip
    assert ids(found) == ["conveyor.W001"]


def test_manage_py_check_fails_on_a_bad_backend() -> None:
    bad = {"default": {"BACKEND": BACKEND, "QUEUES": [], "OPTIONS": {"url": "memory://"}}}
    with override_settings(TASKS=bad), pytest.raises(SystemCheckError, match=r"conveyor\.E004"):
        call_command("check")
    with tasks_on("memory://"):
        call_command("check")  # and passes on a good one


def test_a_bad_backend_is_refused_at_its_first_enqueue() -> None:
    from conveyor.contrib.django.compat import InvalidTaskBackend

    with tasks_on("mysql://db/app") as backend, pytest.raises(InvalidTaskBackend, match="mysql"):
        _ = backend.queue


def test_manage_py_conveyor_gives_each_command_the_backends_queue() -> None:
    with tasks_on("memory://"):
        assert cli_arguments(["worker", "-c", "8"]) == (
            "default", ["worker", TARGET, "-c", "8", "--queue", "default", "--queue", "emails"]
        )  # fmt: skip
        assert cli_arguments(["worker", "--queue", "emails"]) == (
            "default", ["worker", TARGET, "--queue", "emails"]
        )  # fmt: skip
        assert cli_arguments(["stats", "--json"]) == ("default", ["stats", TARGET, "--json"])
        assert cli_arguments(["jobs", "list", "--status", "failed"]) == (
            "default", ["jobs", "list", TARGET, "--status", "failed"]
        )  # fmt: skip
        assert cli_arguments(["--backend", "other", "migrate", "postgresql://x"]) == (
            "other", ["migrate", "postgresql://x"]
        )  # fmt: skip
        assert cli_arguments(["--backend=other", "serve"]) == ("other", ["serve", TARGET])
        assert cli_arguments([]) == ("default", ["--help"])
