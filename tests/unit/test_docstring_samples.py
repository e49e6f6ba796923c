"""The code samples in docstrings, which the API reference page shows, run too.

``>>>`` lines run as doctests (in a temporary folder, with ``memory://`` as
``CONVEYOR_URL``); the indented ``::`` blocks run as programs, except the one of
``conveyor.testing``, which is a test function of an app that does not exist here: it is
compiled, and ``docs/guides/testing.md`` runs the same calls for real.
"""

from __future__ import annotations

import doctest
import importlib
import logging
import re
import textwrap
from pathlib import Path

import pytest

import conveyor
from conveyor import create_queue

DOCTESTED = ["conveyor", "conveyor.client.create", "conveyor.client.queue",
             "conveyor.stores.postgres.schema"]  # fmt: skip


def _literal_blocks(text: str) -> list[str]:
    """The indented blocks that follow a line ending in ``::``."""
    return [textwrap.dedent(m[1]) for m in re.finditer(r"::\n\n((?:    .*\n|\n)+)", text)]


@pytest.mark.parametrize("name", DOCTESTED)
def test_doctests(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CONVEYOR_URL", "memory://")
    module = importlib.import_module(name)
    queue = create_queue(url="memory://")
    queue.register("send-email", lambda job: None)
    found = doctest.DocTestFinder().find(module, globs={"queue": queue, **vars(conveyor)})
    examples = sum(len(test.examples) for test in found)
    assert examples > 0, f"{name} has no >>> sample any more: drop it from DOCTESTED"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in found:
        runner.run(test)
    assert runner.summarize(verbose=False).failed == 0
    queue.sync.close()


def test_the_hooks_sample_runs() -> None:
    from conveyor.definitions import hooks

    [sample] = _literal_blocks(hooks.__doc__ or "")
    namespace = {"Hook": hooks.Hook, "log": logging.getLogger("sample")}
    exec(compile(sample, "hooks sample", "exec"), namespace)
    slow = namespace["SlowJobs"]()
    queue = create_queue(url="memory://")
    queue.hooks.add(slow)  # the queue takes it as a hook


def test_the_testing_sample_compiles() -> None:
    from conveyor import testing

    [sample] = _literal_blocks(testing.__doc__ or "")
    compile(sample, "testing sample", "exec")
    assert "QueueTester(app.queue)" in sample
