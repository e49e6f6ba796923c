"""The documentation site's reference pages cover every public name, path and schema.

``mkdocs build --strict`` (in ``.ci/run``) fails on a reference that does not resolve;
these tests fail when something public is simply left off a page, and check the two
build hooks in ``docs/hooks/`` on their own.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

import conveyor
from conveyor import SyncQueue, create_queue

ROOT = Path(__file__).resolve().parents[2]
API_PAGE = (ROOT / "docs" / "reference" / "api.md").read_text(encoding="utf-8")
HOOKS = ROOT / "docs" / "hooks"


def load_hook(name: str) -> ModuleType:
    """Import ``docs/hooks/<name>.py`` (it is not a package)."""
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def block_members(target: str) -> list[str]:
    """Return the ``members:`` list of the ``::: target`` block of the API page."""
    match = re.search(rf"^::: {re.escape(target)}\n((?:    .*\n|\n)*)", API_PAGE, re.MULTILINE)
    assert match, f"reference/api.md has no '::: {target}' block"
    return [m.strip("\"'") for m in re.findall(r"^ +- (\S+)", match[1], re.MULTILINE)]


@pytest.mark.parametrize("name", conveyor.__all__)
def test_every_name_conveyor_exports_has_a_block(name: str) -> None:
    assert re.search(rf"^::: conveyor\.{re.escape(name)}$", API_PAGE, re.MULTILINE)


QUEUE_INTERNALS = {
    "handlers": "the handler registry: its type is internal (conveyor.definitions)",
    "emitter": "the event emitter: on, off and emit are its public face",
}
"""Public-looking attributes of Queue that the reference leaves out, and why."""


def test_every_public_member_of_queue_is_listed() -> None:
    queue = create_queue(url="memory://")  # opens nothing; has the attributes __init__ sets
    public = {name for name in dir(queue) if not name.startswith("_")} - set(QUEUE_INTERNALS)
    listed = block_members("conveyor.Queue")
    assert sorted(public - set(listed)) == []
    assert sorted(set(listed) - public) == []
    assert len(listed) == len(set(listed))


def test_every_blocking_twin_is_named() -> None:
    twins = [name for name, value in vars(SyncQueue).items() if callable(value)]
    twins = [name for name in twins if not name.startswith("_")]
    assert twins, "SyncQueue has no twins?"
    paragraph = API_PAGE.split("::: conveyor.SyncQueue", 1)[1].split("## ", 1)[0]
    assert [name for name in twins if f"`{name}`" not in paragraph] == []


@pytest.mark.parametrize("module", ["conveyor.testing", "conveyor.http"])
def test_every_name_of_a_documented_module_is_listed(module: str) -> None:
    exported = importlib.import_module(module).__all__
    assert sorted(set(exported) - set(block_members(module))) == []


def test_the_http_reference_has_every_operation_and_schema() -> None:
    pytest.importorskip("fastapi")
    hook = load_hook("openapi")
    document = hook.openapi_document()
    markdown = hook.render(document)
    for path, operations in document["paths"].items():
        for method in operations:
            assert f"### `{method.upper()} {path}` {{#{hook.anchor(method, path)}}}" in markdown
    for name in document["components"]["schemas"]:
        assert f"### {name} {{#schema-{name.lower()}}}" in markdown
    linked = set(re.findall(r"\]\(#schema-([a-z0-9_]+)\)", markdown))
    defined = {name.lower() for name in document["components"]["schemas"]}
    assert linked <= defined
    page = (ROOT / "docs" / "reference" / "http.md").read_text(encoding="utf-8")
    assert hook.MARKER in page


def test_rest_literal_blocks_become_fenced_code() -> None:
    hook = load_hook("rest_docstrings")
    text = "Add one::\n\n    queue.hooks.add(MyHook())\n\nThen more.\n\n>>> 1 + 1\n2"
    assert hook.literal_blocks(text).splitlines() == [
        "Add one:",
        "",
        "```python",
        "queue.hooks.add(MyHook())",
        "```",
        "",
        "Then more.",
        "",
        "```pycon",
        ">>> 1 + 1",
        "2",
        "```",
    ]


def test_no_sphinx_role_is_left_in_a_docstring() -> None:
    griffe = pytest.importorskip("griffe")
    hook = load_hook("rest_docstrings")
    package = griffe.load(
        "conveyor",
        search_paths=[str(ROOT / "src")],
        extensions=griffe.load_extensions(hook.RestDocstrings()),
    )
    left = []
    for obj in hook.walk(package):
        if obj.docstring is not None and hook.ROLE.search(obj.docstring.value):
            left.append(obj.path)
    assert left == []
    queue = package["client.queue.Queue"].docstring
    assert queue is not None
    assert '<autoref identifier="conveyor.create_queue" optional>' in queue.value
