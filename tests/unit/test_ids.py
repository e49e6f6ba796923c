"""Job ids: unique, strictly increasing within a process, carrying their creation time."""

from __future__ import annotations

import itertools
import threading
import time

from conveyor.ids import id_time, new_job_id

CROCKFORD = set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_an_id_is_26_crockford_base32_characters() -> None:
    for job_id in (new_job_id() for _ in range(100)):
        assert isinstance(job_id, str)
        assert len(job_id) == 26
        assert set(job_id) <= CROCKFORD


def test_ids_strictly_increase_even_within_one_millisecond() -> None:
    ids = [new_job_id() for _ in range(20_000)]  # many per millisecond
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len({id_time(job_id) for job_id in ids}) < len(ids)  # some did share a millisecond


def test_ids_made_on_many_threads_are_unique() -> None:
    made: list[list[str]] = [[] for _ in range(8)]
    start = threading.Barrier(len(made))

    def make(into: list[str]) -> None:
        start.wait()
        into.extend(new_job_id() for _ in range(2_000))

    threads = [threading.Thread(target=make, args=(into,)) for into in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for ids in made for job_id in ids]
    assert len(set(every)) == len(every) == 16_000
    assert all(ids == sorted(ids) for ids in made)


def test_id_time_is_the_creation_time_in_milliseconds() -> None:
    before = time.time()
    job_id = new_job_id()
    after = time.time()
    created = id_time(job_id)
    assert before - 0.001 <= created <= after
    assert created == round(created, 3)


def test_a_later_millisecond_sorts_later() -> None:
    first = new_job_id()
    deadline = time.monotonic() + 1
    while time.time() - id_time(first) < 0.003 and time.monotonic() < deadline:
        pass  # spin a few milliseconds (no event loop here to wait on)
    second = new_job_id()
    assert id_time(second) > id_time(first)
    assert second > first
