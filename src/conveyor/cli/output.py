"""How the commands print: JSON lines for scripts, rich tables for people."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console


def echo_json(data: object) -> None:
    """Print ``data`` as one line of JSON (dates and other values as strings)."""
    click.echo(json.dumps(data, default=str))


def console() -> Console:
    """Make a rich console for tables; piped output (scripts, grep) is not cut to 80 columns."""
    return Console(highlight=False, width=None if sys.stdout.isatty() else 200)
