"""Redis Cluster: which node serves the store's slot, found again when it moves.

All keys of one store share the hash tag ``{prefix}``, so they live in one slot and
every script runs on the one primary that serves it. The store talks to that node
directly, over its usual short command path: a cluster client would look up the slot
of every command for nothing. :class:`SlotLocator` asks the nodes it knows
(``CLUSTER SLOTS``) which primary serves the slot; the store asks again when a node
answers ``MOVED`` (the slot was moved, or a replica took over) or stops answering.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import redis
from redis.crc import key_slot

from ...errors import BackendUnavailableError

Address = tuple[str, int]


class SlotLocator:
    """Finds the primary that serves the slot of ``tag``, asking the nodes it knows."""

    def __init__(self, seed_url: str, tag: str, masked_url: str, connect_timeout: float) -> None:
        self._template = urlsplit(seed_url)
        self._masked = masked_url
        self._connect_timeout = connect_timeout
        self.slot = key_slot(tag.encode())
        seed = (self._template.hostname or "127.0.0.1", self._template.port or 6379)
        self._known: list[Address] = [seed]

    def locate(self) -> str:
        """Return the URL of the node that serves the slot now (blocking: run it on a thread).

        Raises :class:`BackendUnavailableError` when no known node answers or none
        serves the slot (the cluster is down or still being created).
        """
        problems: list[str] = []
        for host, port in list(self._known):
            client = redis.Redis.from_url(
                self._url_of((host, port)), socket_connect_timeout=self._connect_timeout
            )
            try:
                ranges = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]
            except (redis.RedisError, OSError) as exc:
                problems.append(f"{host}:{port}: {exc}")
                continue
            finally:
                client.close()
            owner = self._learn(ranges, host)
            if owner is not None:
                return self._url_of(owner)
            problems.append(f"{host}:{port}: no node serves slot {self.slot}")
        raise BackendUnavailableError(
            f"Redis Cluster at {self._masked} is unavailable: {'; '.join(problems)}"
        )

    def _learn(self, ranges: list[list[object]], asked: str) -> Address | None:
        """Remember every node of the ``CLUSTER SLOTS`` reply; return the slot's primary."""
        owner: Address | None = None
        for start, end, *nodes in ranges:
            addresses = [_address(node, asked) for node in nodes]
            for address in addresses:
                if address not in self._known:
                    self._known.append(address)
            if int(start) <= self.slot <= int(end):  # type: ignore[call-overload]
                owner = addresses[0]
        if owner is not None:  # ask the owner first next time
            self._known.remove(owner)
            self._known.insert(0, owner)
        return owner

    def _url_of(self, address: Address) -> str:
        host, port = address
        userinfo = self._template.netloc.rpartition("@")[0]
        hostport = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        netloc = f"{userinfo}@{hostport}" if userinfo else hostport
        return urlunsplit(self._template._replace(netloc=netloc, path="/0"))


def _address(node: object, asked: str) -> Address:
    """``(host, port)`` of a node entry; an empty host is the node that was asked."""
    host, port = node[0], node[1]  # type: ignore[index]
    name = host.decode() if isinstance(host, bytes) else str(host)
    return (name or asked, int(port))
