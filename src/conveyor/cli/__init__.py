"""The ``conveyor`` command.

``main.py`` is the group and the worker, serve and demo commands; ``jobs.py`` the
commands that read and steer jobs; ``target.py`` which queue a command works on;
``demo.py`` the demo's queue and jobs.
"""

from .main import cli, main

__all__ = ["cli", "main"]
