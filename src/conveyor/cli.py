"""The ``conveyor`` command (placeholder until the CLI lands)."""

from __future__ import annotations


def main() -> None:
    """Run the command line."""
