"""Griffe extension: conveyor's reST-flavoured docstrings, made fit for mkdocstrings.

conveyor's docstrings are written for Sphinx: roles (``:class:`Queue```,
``:meth:`~conveyor.Queue.enqueue```, ``:mod:`._keys```), literal blocks introduced by
``::`` and doctest lines (``>>>``). mkdocstrings renders docstrings as Markdown, where
those print raw. Before any docstring is rendered, this extension rewrites

- each role as an optional cross-reference: a link when the object it names is on
  the site, plain code otherwise (so a role never breaks a strict build). Names are
  resolved the way Python would from where the docstring is; an object exported by
  ``conveyor`` is linked under its public name (``conveyor.Queue``);
- each ``::`` literal block as a fenced Python block, and each run of ``>>>`` lines
  as a fenced ``pycon`` block.

mkdocs.yml loads it: ``plugins: mkdocstrings: handlers: python: options: extensions``.
"""

from __future__ import annotations

import html
import re
import textwrap
from functools import partial
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|meth|func|attr|exc|mod|data|obj|const):"
    r"`(?P<body>[^`]+)`"
)
_EXPLICIT = re.compile(r"(?P<title>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
CALLABLE_ROLES = {"meth", "func"}


class RestDocstrings(griffe.Extension):
    """Rewrite every docstring of a loaded package once it is fully loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        """Rewrite the docstrings of ``pkg`` and of every object in it."""
        public = _public_names(pkg)
        for obj in walk(pkg):
            if obj.docstring is not None:
                text = literal_blocks(obj.docstring.value)
                obj.docstring.value = ROLE.sub(partial(_role, obj=obj, public=public), text)


def walk(obj: griffe.Object) -> list[griffe.Object]:
    """Return ``obj`` and every object defined in it (aliases are skipped)."""
    found = [obj]
    for member in obj.members.values():
        if not member.is_alias and isinstance(member, griffe.Object):
            found += walk(member)
    return found


def _public_names(pkg: griffe.Module) -> dict[str, str]:
    """Map the canonical path of each name the package exports to its public path."""
    names: dict[str, str] = {}
    for name, member in pkg.members.items():
        if member.is_alias and not name.startswith("_"):
            try:
                names[member.final_target.path] = f"{pkg.path}.{name}"
            except (griffe.AliasResolutionError, griffe.CyclicAliasError):
                continue
    return names


def _role(match: re.Match[str], *, obj: griffe.Object, public: dict[str, str]) -> str:
    role, body = match["role"], match["body"].strip()
    explicit = _EXPLICIT.fullmatch(body)
    if explicit:
        title, target = explicit["title"], explicit["target"].strip()
    else:
        target = body
        title = ""
    short = target.startswith("~")
    target = target.lstrip("~")
    if not title:
        title = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        if role in CALLABLE_ROLES:
            title += "()"
    identifier = _resolve(target, obj, public)
    return (
        f'<autoref identifier="{html.escape(identifier)}" optional>'
        f"<code>{html.escape(title)}</code></autoref>"
    )


def _resolve(target: str, obj: griffe.Object, public: dict[str, str]) -> str:
    """Return the path of the object ``target`` names from ``obj``, at its public name."""
    if target.startswith("."):
        path = _relative_module(target, obj)
    else:
        head, _, rest = target.partition(".")
        try:
            path = obj.resolve(head)
        except griffe.NameResolutionError:
            path = _inherited(head, obj) or head
        path = f"{path}.{rest}" if rest else path
        path = _final(path, obj)
    for canonical, name in public.items():
        if path == canonical or path.startswith(canonical + "."):
            return name + path[len(canonical) :]
    return path


def _inherited(name: str, obj: griffe.Object) -> str | None:
    """Find ``name`` among the inherited members of the classes around ``obj``."""
    scope: griffe.Object | None = obj
    while scope is not None:
        if scope.is_class and name in scope.all_members:
            return f"{scope.path}.{name}"
        scope = scope.parent
    return None


def _relative_module(target: str, obj: griffe.Object) -> str:
    """Resolve ``._keys`` or ``..jobs`` against the package of ``obj``'s module."""
    module = obj.module
    package = module if module.is_init_module else module.parent
    dots = len(target) - len(target.lstrip("."))
    for _ in range(dots - 1):
        if package is not None and package.parent is not None:
            package = package.parent
    base = package.path if package is not None else ""
    rest = target.lstrip(".")
    return f"{base}.{rest}" if rest else base


def _final(path: str, obj: griffe.Object) -> str:
    """Follow aliases along ``path`` (``conveyor.Queue.enqueue``) to the defining object."""
    try:
        found = obj.modules_collection[path]
    except (KeyError, griffe.AliasResolutionError, griffe.CyclicAliasError):
        return path
    try:
        return str(found.final_target.path) if found.is_alias else str(found.path)
    except (griffe.AliasResolutionError, griffe.CyclicAliasError):
        return path


def literal_blocks(text: str) -> str:
    """Turn reST literal blocks (``::``) and doctest lines into fenced Markdown blocks."""
    lines = text.splitlines()
    out: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if line.strip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            block = []
            while index < len(lines) and lines[index].strip():
                block.append(lines[index].removeprefix(indent))
                index += 1
            out += [f"{indent}```pycon", *(indent + b for b in block), f"{indent}```"]
            continue
        if line.rstrip().endswith("::") and _block_follows(lines, index):
            stripped = line.rstrip()[:-2].rstrip()
            if stripped:
                out.append(stripped + ":")
            index += 1
            indent = len(line) - len(line.lstrip())
            block = []
            while index < len(lines) and (
                not lines[index].strip() or len(lines[index]) - len(lines[index].lstrip()) > indent
            ):
                block.append(lines[index])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            code = textwrap.dedent("\n".join(block)).strip("\n")
            pad = " " * indent
            out += ["", f"{pad}```python", *(pad + c if c else c for c in code.splitlines())]
            out += [f"{pad}```", ""]
            continue
        out.append(line)
        index += 1
    return "\n".join(out)


def _block_follows(lines: list[str], index: int) -> bool:
    """Tell whether a blank line, then a line indented deeper than ``lines[index]``, follow."""
    indent = len(lines[index]) - len(lines[index].lstrip())
    rest = lines[index + 1 :]
    if not rest or rest[0].strip():
        return False
    for line in rest:
        if line.strip():
            return len(line) - len(line.lstrip()) > indent
    return False
