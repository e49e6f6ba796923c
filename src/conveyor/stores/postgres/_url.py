"""The PostgreSQL URL: conveyor's own options, and the rest for libpq."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

from ...errors import BackendUnavailableError, ConfigurationError
from ..urls import mask_url

DEFAULT_SCHEMA = "conveyor"
CONNECT_TIMEOUT = 5
_FALSE, _TRUE = ("false", "no", "off", "0"), ("true", "yes", "on", "1")
_MAX_IDENTIFIER = 63  # bytes; the channel is "<schema>_events"


@dataclass(frozen=True, slots=True)
class Settings:
    """What a ``postgresql://`` URL asks for."""

    conninfo: str
    """The URL without conveyor's options, with conveyor's connection defaults."""
    schema: str
    migrate: bool
    pool_size: int
    masked: str

    @property
    def channel(self) -> str:
        """The NOTIFY channel every transition of this schema publishes on."""
        return f"{self.schema}_events"

    def unavailable(self, exc: BaseException, what: str = "failed") -> BackendUnavailableError:
        """Return the error to raise for driver error ``exc``: one line, URL masked."""
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        return BackendUnavailableError(f"PostgreSQL at {self.masked} {what}: {reason}")


def parse_url(url: str) -> Settings:
    """Split ``url`` into conveyor's options and a libpq connection string."""
    masked = mask_url(url)
    parts = urlsplit(url)
    libpq: dict[str, str] = {}
    ours: dict[str, str] = {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        (ours if key in ("schema", "migrate", "pool_size") else libpq)[key] = value
    schema = ours.get("schema", DEFAULT_SCHEMA)
    if not schema or len(f"{schema}_events".encode()) > _MAX_IDENTIFIER:
        raise ConfigurationError(
            f"schema must be 1 to {_MAX_IDENTIFIER - 7} bytes long in {masked!r}, got {schema!r}"
        )
    libpq.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    libpq.setdefault("application_name", "conveyor")
    return Settings(
        conninfo=parts._replace(query=urlencode(libpq)).geturl(),
        schema=schema,
        migrate=_flag(ours.get("migrate", "true"), "migrate", masked),
        pool_size=_pool_size(ours.get("pool_size", "10"), masked),
        masked=masked,
    )


def _flag(value: str, name: str, masked: str) -> bool:
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ConfigurationError(f"{name} must be true or false in {masked!r}, got {value!r}")


def _pool_size(value: str, masked: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ConfigurationError(
            f"pool_size must be a whole number, 1 or more, in {masked!r}, got {value!r}"
        )
    return int(value)
