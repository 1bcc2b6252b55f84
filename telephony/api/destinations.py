"""Where webhooks may be delivered: public addresses only, unless a network is allowed.

Whoever holds an API key chooses a webhook's URL; delivered blindly, it would make this
service send requests into its own network (the database, a cloud metadata endpoint, an
admin page): server-side request forgery. So every address a host resolves to must be a
public one, or inside WEBHOOK_ALLOW_NETWORKS, and the request is sent to the address that
was checked (the name still goes in `Host` and in TLS), so a second lookup cannot point
somewhere else.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# host, port -> the addresses it resolves to (the event loop's getaddrinfo by default)
Resolve = Callable[[str, int], Awaitable[list[str]]]


class DestinationRefused(ValueError):
    """The URL may not be delivered to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    url: str  # the checked address in place of the host name
    host: str  # for the Host header
    tls_name: str | None  # the name TLS checks the certificate against (https only)


def _parts(url: str) -> SplitResult:
    try:
        return urlsplit(url)
    except ValueError:  # "Invalid IPv6 URL" and the like
        raise DestinationRefused("the URL cannot be parsed") from None


async def _getaddrinfo(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class Destinations:
    def __init__(self, allowed: Sequence[str] = (), resolve: Resolve = _getaddrinfo) -> None:
        self._any = "*" in allowed
        self._networks = [ipaddress.ip_network(a, strict=False) for a in allowed if a != "*"]
        self._resolve = resolve

    def permitted(self, address: IpAddress) -> bool:
        if self._any or any(address in network for network in self._networks):
            return True
        mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:10.0.0.1 is 10.0.0.1
        return (mapped or address).is_global

    def check_literal(self, url: str) -> None:
        """At registration: refuse a URL naming a forbidden address outright (a name is
        checked when it is delivered to, as it may resolve differently by then)."""
        host = _parts(url).hostname or ""
        if host.lower() in ("localhost", "localhost.") or host.lower().endswith(".localhost"):
            host = "127.0.0.1"
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return
        if not self.permitted(address):
            raise DestinationRefused(f"{host} is not a public address")

    async def target(self, url: str) -> Target:
        """Resolve `url`'s host now and check every address it has."""
        parts = _parts(url)
        host = parts.hostname
        if host is None:
            raise DestinationRefused("the URL has no host")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise DestinationRefused("the URL's port cannot be read") from None
        try:
            found = await self._resolve(host, port)
        except OSError as exc:
            raise DestinationRefused(f"cannot resolve the host ({type(exc).__name__})") from None
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in found]
        if not addresses:
            raise DestinationRefused("the host has no address")
        refused = [a for a in addresses if not self.permitted(a)]
        if refused:
            raise DestinationRefused(f"the host resolves to {refused[0]}, not a public address")
        address = addresses[0]
        literal = f"[{address}]" if address.version == 6 else str(address)
        netloc = f"{literal}:{parts.port}" if parts.port else literal
        host_header = parts.netloc.rsplit("@", 1)[-1]
        return Target(
            url=urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")),
            host=host_header,
            tls_name=host if parts.scheme == "https" else None,
        )
