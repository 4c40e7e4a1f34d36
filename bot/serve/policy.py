"""Which meeting (and webhook) URLs the server may send a browser (or a POST) to.

A server that opens any URL it is given is a request forgery tool: a browser on the server's network would load
an intranet page or a cloud metadata endpoint for whoever holds the token. So a URL is checked twice over:

- its form: ``http``/``https`` only, a host, no control characters, at most ``MAX_URL_CHARS``;
- its host: with ``serve.allowed_hosts`` set, only those hosts; without, any host whose addresses (all of
  them, as resolved now) are public. Private, loopback, link-local, unspecified, multicast and reserved
  addresses (IPv4, IPv6, IPv4-mapped IPv6) are refused unless the host is listed.

Known limit: DNS rebinding. A name that resolves to a public address here may resolve to a private one when the
bot's browser looks it up a moment later; only ``allowed_hosts`` (or a network policy around the bots) closes
that gap.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence
from urllib.parse import SplitResult, urlsplit

MAX_URL_CHARS = 2048

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UrlRefused(ValueError):
    """The URL may not be used; the message says why (it never quotes the URL's query or user info)."""


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to now (through the event loop's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_http_url(url: str) -> SplitResult:
    """Check the form of an http(s) URL.

    Raises:
        UrlRefused: not http(s), no host, a bad port, control characters or spaces, or too long.
    """
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UrlRefused("contains spaces or control characters")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise UrlRefused("must be an http:// or https:// URL")
    if not parts.hostname:
        raise UrlRefused("has no host")
    return parts


def normalize_host(host: str) -> str:
    """Lower case, no brackets around an IPv6 literal, no trailing dot."""
    return host.strip().lower().strip("[]").rstrip(".")


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet (an IPv4-mapped IPv6 address is judged as its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
            or address.is_multicast or address.is_reserved):
        return False
    return address.is_global


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


class HostPolicy:
    """``serve.allowed_hosts`` applied to meeting URLs (and, more loosely, to status webhooks)."""

    def __init__(self, allowed_hosts: Sequence[str], *, resolve: Resolver = resolve_host) -> None:
        """Args: the listed hosts (names or addresses); ``resolve`` looks a name up (tests inject one)."""
        self._allowed = frozenset(normalize_host(h) for h in allowed_hosts)
        self._resolve = resolve

    async def check_meeting_url(self, url: str) -> None:
        """Refuse a meeting URL the bot may not open.

        Raises:
            UrlRefused: why (bad form, a host not listed, a host with a non-public address).
        """
        parts = parse_http_url(url)
        host = normalize_host(parts.hostname or "")
        if self._allowed:
            if host not in self._allowed:
                raise UrlRefused(f"host {host!r} is not in serve.allowed_hosts")
            return
        await self._check_public(host, parts)

    async def check_webhook_url(self, url: str) -> None:
        """Refuse a status webhook URL: public hosts, or hosts listed in ``allowed_hosts``, only.

        Raises:
            UrlRefused: why.
        """
        parts = parse_http_url(url)
        host = normalize_host(parts.hostname or "")
        if host in self._allowed:
            return
        await self._check_public(host, parts)

    async def _check_public(self, host: str, parts: SplitResult) -> None:
        literal = _literal(host)
        if literal is not None:
            if not is_public(literal):
                raise UrlRefused(f"address {host} is not public (private, loopback, link-local or reserved); "
                                 "list it in serve.allowed_hosts to allow it")
            return
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            addresses = await self._resolve(host, port)
        except OSError as exc:
            raise UrlRefused(f"host {host!r} cannot be resolved ({exc.strerror or exc})") from None
        if not addresses:
            raise UrlRefused(f"host {host!r} has no address")
        for raw in addresses:
            address = _literal(raw)
            if address is None or not is_public(address):
                raise UrlRefused(f"host {host!r} resolves to a non-public address ({raw}); list it in "
                                 "serve.allowed_hosts to allow it")
