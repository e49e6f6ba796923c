"""Parsing of ``redis://`` and ``rediss://`` store URLs."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ...errors import ConfigurationError
from ..urls import mask_url, url_flag

OPTIONS = ("prefix", "cluster")
DEFAULT_PREFIX = "conveyor"


@dataclass(frozen=True, slots=True)
class RedisURL:
    """A store URL taken apart: what redis-py connects to, and conveyor's own options."""

    server: str
    """The URL without conveyor's query options (password included: never log it)."""
    masked: str
    """The whole URL with its password masked."""
    prefix: str
    """Every key of the store starts with ``{prefix}``."""
    cluster: bool
    """The server is a node of a Redis Cluster (``?cluster=true``)."""


def parse_url(url: str) -> RedisURL:
    """Check ``url`` and split it; raise :class:`ConfigurationError` naming what is wrong."""
    masked = mask_url(url)
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        raise ConfigurationError(f"not a Redis URL: {masked}")
    options = {key: values[-1] for key, values in parse_qs(parts.query, True).items()}
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigurationError(
            f"unknown Redis URL option(s) {unknown} in {masked}; supported: {', '.join(OPTIONS)}"
        )
    database = parts.path.lstrip("/")
    if database and not database.isdigit():
        raise ConfigurationError(f"the database of {masked} must be a number, got {database!r}")
    prefix = options.get("prefix", DEFAULT_PREFIX)
    if not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"prefix must be a non-empty string without braces in {masked}, got {prefix!r}"
        )
    cluster = url_flag(options.get("cluster", "false"), "cluster", masked)
    if cluster and database not in ("", "0"):
        raise ConfigurationError(
            f"a Redis Cluster has only database 0, but {masked} names database {database}"
        )
    server = urlunsplit(parts._replace(query="", fragment=""))
    return RedisURL(server=server, masked=masked, prefix=prefix, cluster=cluster)
