"""What every store's URL parsing shares: a password kept out of messages, true/false options."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigurationError


def mask_url(url: str) -> str:
    """Return ``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def url_flag(value: str, name: str, masked_url: str) -> bool:
    """Read a true/false URL option (``true/yes/on/1``, ``false/no/off/0``)."""
    if value.lower() in ("true", "yes", "on", "1"):
        return True
    if value.lower() in ("false", "no", "off", "0"):
        return False
    raise ConfigurationError(f"{name} must be true or false in {masked_url!r}, got {value!r}")
