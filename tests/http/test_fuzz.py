"""schemathesis over the OpenAPI document: generated requests to every endpoint, none
answered with a 5xx (bounded: a few examples per operation, well under a minute)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from http_support import Server, make_queue
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from conveyor.http import conveyor_app


@pytest.fixture
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    queue = make_queue(f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}")
    with Server(conveyor_app(queue), queue, workers=False) as server:
        yield schemathesis.openapi.from_url(
            f"{server.base}/openapi.json", headers={"X-Conveyor-Request": "1"}
        ).exclude(path="/api/events")  # an endless stream


def test_no_request_makes_a_server_error(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None,
            suppress_health_check=list(HealthCheck),
        )  # fmt: skip
        def call(case: Any) -> None:
            case.call_and_validate(checks=[not_a_server_error], timeout=10)

        call()
