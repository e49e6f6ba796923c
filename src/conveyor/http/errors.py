"""Every error the API answers is JSON: ``{"error": {"type": ..., "message": ...}}``.

Client mistakes are 4xx and name the problem; a store that cannot be reached is 503.
Nothing the client sends can make a 500.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ..errors import (
    BackendUnavailableError,
    ConveyorError,
    InvalidJobError,
    InvalidScheduleError,
    JobNotFoundError,
    ScheduleNotFoundError,
    SerializationError,
    UnknownJobError,
)

STATUS_OF: tuple[tuple[type[ConveyorError], int], ...] = (
    (JobNotFoundError, 404),
    (ScheduleNotFoundError, 404),
    (UnknownJobError, 422),
    (InvalidJobError, 422),
    (InvalidScheduleError, 422),
    (SerializationError, 422),
    (BackendUnavailableError, 503),
)
"""HTTP status per library error; any other :class:`ConveyorError` is a 400."""


def error_response(status: int, kind: str, message: str) -> JSONResponse:
    """Return the API's JSON error body with ``status``."""
    return JSONResponse({"error": {"type": kind, "message": message}}, status_code=status)


def install(app: FastAPI) -> None:
    """Make ``app`` answer every error as JSON."""

    @app.exception_handler(ConveyorError)
    async def conveyor_error(request: Request, exc: Exception) -> JSONResponse:
        status = next((code for kind, code in STATUS_OF if isinstance(exc, kind)), 400)
        return error_response(status, type(exc).__name__, str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = []
        for error in exc.errors():
            where = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
            problems.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
        malformed = any(error.get("type") == "json_invalid" for error in exc.errors())
        kind = "MalformedJSON" if malformed else "InvalidRequest"
        return error_response(400 if malformed else 422, kind, "; ".join(problems))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, "HTTPError", str(exc.detail))
