"""MkDocs hook: the HTTP API reference, rendered from the app's OpenAPI document.

At build time it makes the app (``conveyor.http.conveyor_app``) on a ``memory://``
queue, reads ``app.openapi()`` and puts the Markdown of every operation and schema in
place of the marker in ``reference/http.md``. The same document is written into the
site as ``reference/openapi.json``. Nothing is copied by hand, so the page cannot
drift from the code.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

PAGE = "reference/http.md"
JSON_FILE = "reference/openapi.json"
MARKER = "<!-- openapi: generated at build time by docs/hooks/openapi.py -->"
_REF = "#/components/schemas/"


@cache
def openapi_document() -> dict[str, Any]:
    """Return the OpenAPI document of the app ``conveyor serve`` serves."""
    from conveyor import create_queue
    from conveyor.http import conveyor_app

    queue = create_queue(url="memory://")  # opens nothing: the app is only described
    app = conveyor_app(queue).app  # the FastAPI app behind the security middleware
    document: dict[str, Any] = app.openapi()
    return document


def render(document: dict[str, Any]) -> str:
    """Return the Markdown of every operation, then of every schema, of ``document``."""
    parts = ["## Operations", ""]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            parts += _operation(method, path, operation)
    parts += ["## Schemas", ""]
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        parts += _schema(name, schema)
    return "\n".join(parts)


def anchor(method: str, path: str) -> str:
    """Return the anchor of one operation's heading: ``post-api-jobs-job_id-retry``."""
    words = [word.strip("{}") for word in path.split("/") if word]
    return "-".join([method.lower(), *words])


def _operation(method: str, path: str, operation: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}` {{#{anchor(method, path)}}}", ""]
    summary = operation.get("summary")
    description = operation.get("description")
    if description:
        lines += [description.strip(), ""]
    elif summary:
        lines += [summary, ""]
    parameters = operation.get("parameters", [])
    if parameters:
        lines += ["| parameter | in | type | required | default | description |"]
        lines += ["|---|---|---|---|---|---|"]
        for parameter in parameters:
            schema = parameter.get("schema", {})
            text = parameter.get("description") or schema.get("description", "")
            cells = [
                f"`{parameter['name']}`",
                parameter["in"],
                _type(schema),
                "yes" if parameter.get("required") else "no",
                _default(schema),
                _cell(text),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    body = operation.get("requestBody")
    if body:
        required = "required" if body.get("required") else "optional"
        for media, content in body.get("content", {}).items():
            schema = _type(content.get("schema", {}))
            lines += [f"Request body ({required}, `{media}`): {schema}", ""]
    lines += _responses(operation.get("responses", {}))
    return lines


def _responses(responses: dict[str, Any]) -> list[str]:
    """Return a table of the responses, where error statuses with one body share a row."""
    rows: list[tuple[list[str], str, str]] = []
    for code, response in responses.items():
        body = _body(response)
        description = _cell(response.get("description", ""))
        shared = next(
            (row for row in rows if _error(code) and _error(row[0][0]) and row[2] == body), None
        )
        if shared is not None:
            shared[0].append(code)
            continue
        rows.append(([code], description, body))
    lines = ["| status | description | body |", "|---|---|---|"]
    for codes, description, body in rows:
        if len(codes) > 1:
            description = "an error: see [Errors](#errors)"
        lines.append(f"| {', '.join(codes)} | {description} | {body} |")
    return [*lines, ""]


def _error(code: str) -> bool:
    return code.isdigit() and int(code) >= 400


def _body(response: dict[str, Any]) -> str:
    content = response.get("content")
    if not content:
        return "none declared"
    said = (f"`{media}` {_type(item.get('schema', {}))}" for media, item in content.items())
    return "; ".join(said)


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name} {{#schema-{name.lower()}}}", ""]
    if schema.get("description"):
        lines += [schema["description"].strip(), ""]
    properties = schema.get("properties")
    if properties:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | default | description |", "|---|---|---|---|---|"]
        for field, spec in properties.items():
            cells = [
                f"`{field}`",
                _type(spec),
                "yes" if field in required else "no",
                _default(spec),
                _cell(spec.get("description", "")),
            ]
            lines.append("| " + " | ".join(cells) + " |")
        if schema.get("additionalProperties") is False:
            lines += ["", "Other fields are refused."]
    elif "enum" in schema:
        lines.append(f"One of: {_values(schema['enum'])}.")
    else:
        lines.append(f"Type: {_type(schema)}.")
    return [*lines, ""]


def _type(schema: dict[str, Any]) -> str:
    """Say what a schema accepts, in a few words, with links to named schemas."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return f"[{name}](#schema-{name.lower()})"
    for combinator, joint in (("anyOf", " or "), ("oneOf", " or "), ("allOf", " and ")):
        if combinator in schema:
            return joint.join(dict.fromkeys(_type(part) for part in schema[combinator]))
    if "const" in schema:
        return f"`{json.dumps(schema['const'])}`"
    if "enum" in schema:
        return f"one of {_values(schema['enum'])}"
    return _plain_type(schema)


def _plain_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if kind is None:
        return "any JSON value"
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        return f"object of {_type(schema['additionalProperties'])}"
    text = f"`{kind}`"
    if "format" in schema:
        text += f" ({schema['format']})"
    limits = _limits(schema)
    return f"{text} {limits}" if limits else text


def _values(values: list[Any]) -> str:
    return ", ".join(f"`{json.dumps(value)}`" for value in values)


def _limits(schema: dict[str, Any]) -> str:
    said = []
    for key, spelled in (
        ("minimum", "≥"),
        ("exclusiveMinimum", ">"),
        ("maximum", "≤"),
        ("exclusiveMaximum", "<"),
    ):
        if key in schema:
            said.append(f"{spelled} {_number(schema[key])}")
    if "minLength" in schema or "maxLength" in schema:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        said.append(f"{low} to {high} characters" if high is not None else f"≥ {low} characters")
    if "pattern" in schema:
        said.append(f"matching `{schema['pattern']}`")
    return ", ".join(said)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    return f"`{json.dumps(schema['default'])}`"


def _cell(text: str) -> str:
    """Text fit for one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


# The MkDocs events this hook answers.


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the raw OpenAPI document to the site, beside the page."""
    content = json.dumps(openapi_document(), indent=2) + "\n"
    files.append(File.generated(config, JSON_FILE, content=content))
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    """Put the rendered operations and schemas in place of the page's marker."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        raise PluginError(f"{PAGE} lost its marker {MARKER!r}: the HTTP reference has no place")
    return markdown.replace(MARKER, render(openapi_document()))
