"""conveyor over HTTP (``pip install 'conveyor[http]'``): a queue's REST API.

:func:`conveyor_app` makes the ASGI app; ``conveyor serve module:queue`` runs it.
"""

from .app import conveyor_app

__all__ = ["conveyor_app"]
