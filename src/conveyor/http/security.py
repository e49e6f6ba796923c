"""What keeps the API safe by default: a token, CSRF protection and a body size cap.

- **Token.** With a token set, every request needs ``Authorization: Bearer <token>``
  (compared in constant time); without it, 401. The dashboard's page and files (no
  data in them) and the OpenAPI document are public; the page asks for the token.
  ``conveyor serve`` refuses to listen on anything but a loopback address without one.
- **CSRF.** A state-changing request (POST, PUT, PATCH, DELETE) must have
  ``Content-Type: application/json`` or the header ``X-Conveyor-Request: 1``, and its
  ``Origin``, when sent, must be this server. A page of another site can send neither
  without a CORS preflight, which this app never grants; otherwise 403.
- **Size.** A body over ``max_body`` bytes is refused with 413, whether it announces
  its length or streams.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_response

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_loopback(host: str) -> bool:
    """Say whether ``host`` is ``localhost`` or a loopback IP address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: token, CSRF and body size checks before the app sees a request."""

    def __init__(self, app: ASGIApp, *, token: str | None, max_body: int) -> None:
        self.app = app
        self.token = token
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse a request that fails a check; pass the others on, body capped."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, kind, message = refusal
            await error_response(status, kind, message)(scope, receive, send)
            return
        exchange = _CappedExchange(scope, receive, send, self.max_body)
        await self.app(scope, exchange.receive, exchange.send)

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str, str] | None:
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        public = path in ("/", "", "/openapi.json") or path.startswith("/static/")
        if self.token is not None and not public:
            given = headers.get("authorization", "")
            expected = f"Bearer {self.token}"
            if not hmac.compare_digest(given.encode(), expected.encode()):
                return 401, "Unauthorized", "send the server's token: Authorization: Bearer <token>"
        if scope["method"] in UNSAFE_METHODS:
            json_body = headers.get("content-type", "").split(";")[0].strip() == "application/json"
            if not json_body and headers.get("x-conveyor-request") != "1":
                return (
                    403,
                    "CSRFRefused",
                    (
                        "a state-changing request needs Content-Type: application/json or the"
                        " header X-Conveyor-Request: 1"
                    ),
                )
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != headers.get("host", ""):
                return 403, "CSRFRefused", f"requests from origin {origin} are not accepted"
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body:
            return 413, "PayloadTooLarge", f"the body is over {self.max_body:,} bytes"
        return None


class _CappedExchange:
    """One request's ``receive`` and ``send``, the body capped at ``limit`` bytes.

    A body that streams past the cap gets the 413 at once, and the app is told the
    client left; what the app answers after that is dropped.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self._scope, self._receive, self._send, self._limit = scope, receive, send, limit
        self._seen = 0
        self._started = self._refused = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self._seen += len(message.get("body", b""))
            if self._seen > self._limit and not self._started:
                self._refused = True
                too_large = f"the body is over {self._limit:,} bytes"
                await error_response(413, "PayloadTooLarge", too_large)(
                    self._scope, self._receive, self._send
                )
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if self._refused:
            return
        self._started = self._started or message["type"] == "http.response.start"
        await self._send(message)
