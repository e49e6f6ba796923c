"""The Redis store's spec line: what json.dumps writes, made without its encoder."""

from __future__ import annotations

import json
import math
import re
from importlib import resources
from typing import Any

import pytest

from conveyor.job import JobStatus
from conveyor.stores.redis._codec import (
    CLAIMED,
    SPEC,
    decode_claimed,
    decode_flat,
    many_record_args,
    record_args,
    spec_line,
)
from testkit import job_record

CASES: list[dict[str, Any]] = [
    {},
    {"name": 'résumé ✓ "quoted" \\ back\nslash', "backoff": '{"kind":"fixed"}'},
    {"retry_delay": 2, "timeout": None, "scheduled_at": 1795954192.3657885},
    {"retry_delay": 0.1, "timeout": 1e-7, "headers": '{"trace":"x"}'},
    {"retry_delay": math.inf},
    {"timeout": 12345678901234.5},
]


@pytest.mark.parametrize("fields", CASES)
def test_the_spec_line_is_what_json_dumps_writes(fields: dict[str, Any]) -> None:
    record = job_record("01M8KKCBZD5W34WHQKEGD6T0H5", "q", **fields)
    values = [getattr(record, name) for name in SPEC]
    assert spec_line(record) == json.dumps(values, separators=(",", ":"))


@pytest.mark.parametrize("fields", CASES[:4])
def test_a_job_reads_back_as_it_was_written(fields: dict[str, Any]) -> None:
    record = job_record("01M8KKCBZD5W34WHQKEGD6T0H5", "q", **fields)
    args = record_args(record)
    names = ("queue", "status", "priority", "max_retries", "run_at", "attempts", "spec")
    flat: list[bytes] = []
    for name, value in zip(names, args[1:8], strict=True):
        flat += [name.encode(), value if isinstance(value, bytes) else str(value).encode()]
    assert decode_flat(flat) == record


def test_a_batch_writes_each_job_as_it_would_alone() -> None:
    # Jobs of a batch share their spec's tail when they share its fields, not otherwise.
    records = [
        job_record(f"01M8KKCBZD5W34WHQKEGD6T0H{i}", "q", **{"created_at": 1.5, **CASES[i % 6]})
        for i in range(12)
    ]
    alone = [arg for record in records for arg in record_args(record)]
    assert many_record_args(records) == alone


def test_a_claimed_job_reads_as_its_whole_hash_would() -> None:
    # decode_claimed takes the CLAIMED fields by position: the same job as decode_flat.
    record = job_record(
        "01M8KKCBZD5W34WHQKEGD6T0H5", "q", **CASES[3], status=JobStatus.PROCESSING,
        attempts=2, started_at=1795954193.5, worker_id="w-1", lease_expires_at=1795954223.5,
        error="ValueError: no", traceback="Traceback ...", unique_key="k", unique_until=9.5,
    )  # fmt: skip
    args = record_args(record)
    names = ("queue", "status", "priority", "max_retries", "run_at", "attempts", "spec")
    fields = {name: value for name, value in zip(names, args[1:8], strict=True)}
    fields.update(zip(args[9::2], args[10::2], strict=True))
    raw = {name: v if isinstance(v, bytes) else str(v).encode() for name, v in fields.items()}
    flat = [part for name, value in raw.items() for part in (name.encode(), value)]
    assert decode_claimed([raw.get(name) for name in CLAIMED]) == decode_flat(flat) == record


def test_the_claim_script_returns_the_fields_the_client_reads() -> None:
    source = (resources.files("conveyor.stores.redis") / "lua" / "claim.lua").read_text()
    listed = re.search(r"local CLAIMED = \{(.*?)\}", source, re.DOTALL)
    assert listed is not None
    assert tuple(re.findall(r"'(\w+)'", listed.group(1))) == CLAIMED
