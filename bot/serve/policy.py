r"""Which meeting (and webhook) URLs the server may send a browser (or a POST) to.

A server that opens any URL it is given is a request forgery tool: a browser on the server's network would load
an intranet page or a cloud metadata endpoint for whoever holds the token. So a URL is checked twice over:

- its form: ``http``/``https`` only, a plain host (ASCII name, dotted-quad IPv4 or bracketed IPv6), no user
  info, no backslash, no spaces or control characters, at most ``MAX_URL_CHARS``. Python's and the browser's
  (WHATWG) URL parsers disagree on those forms (``http://127.0.0.1\@meet.example.org/`` is a different host to
  each), so they are refused, and the URL is rebuilt in one canonical form that both read alike: that canonical
  URL, not the string given, is what the bot must be sent to;
- its host: with ``serve.allowed_hosts`` set, only those hosts; without, any host whose addresses (all of
  them, as resolved now) are public. Private, loopback, link-local, site-local, unspecified, multicast and
  reserved addresses are refused unless the host is listed, also when embedded in an IPv6 address
  (IPv4-mapped, 6to4, NAT64; Teredo is refused outright), and 192.0.0.0/24.

Known limits: DNS rebinding (a name that resolves to a public address here may resolve to a private one when the
bot's browser looks it up a moment later), redirects, and whatever the meeting page loads later. Only
``allowed_hosts`` plus egress rules around the bots close those gaps. Status webhooks are sent through
``PublicOnlyResolver``, which checks the addresses at connection time.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

MAX_URL_CHARS = 2048
MAX_HOST_CHARS = 253
DEFAULT_PORTS = {"http": 80, "https": 443}

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
# A host the browser reads as an IPv4 address in some form (WHATWG "ends in a number": 2130706433, 0x7f.1, 127.1).
_ENDS_IN_NUMBER = re.compile(r"(?:^|\.)(?:[0-9]+|0x[0-9a-f]*)$")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_IETF_PROTOCOL = ipaddress.IPv4Network("192.0.0.0/24")  # Python counts a few of these as global


class UrlRefused(ValueError):
    """The URL may not be used; the message says why (it never quotes the URL's query or user info)."""


@dataclass(frozen=True, slots=True)
class CanonicalUrl:
    """An http(s) URL in the one form Python and the browser read alike.

    Attributes:
        url: scheme and host in lower case, no default port, path (at least ``/``), query and fragment as given.
        scheme: ``http`` or ``https``.
        host: a lower-case name without a trailing dot, a dotted-quad IPv4 or a compressed IPv6 (no brackets).
        port: the port to connect to (the scheme's default when none is given).
    """

    url: str
    scheme: str
    host: str
    port: int


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to now (through the event loop's resolver)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def canonical_url(url: str) -> CanonicalUrl:
    """Check the form of an http(s) URL and rebuild it canonically.

    Raises:
        UrlRefused: not http(s), no host or a host the browser could read differently, user info, a backslash,
            a bad port, control characters or spaces, or too long.
    """
    if len(url) > MAX_URL_CHARS:
        raise UrlRefused(f"longer than {MAX_URL_CHARS} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise UrlRefused("contains spaces or control characters")
    if "\\" in url:
        raise UrlRefused("contains a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises on a port that is not a number in range
    except ValueError as exc:
        raise UrlRefused(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UrlRefused("must be an http:// or https:// URL")
    if "@" in parts.netloc:
        raise UrlRefused("must not contain user info (user:password@)")
    if not parts.hostname:
        raise UrlRefused("has no host")
    if port == 0:
        raise UrlRefused("port 0 is not a port to connect to")
    host = _canonical_host(parts.netloc.startswith("["), parts.hostname)
    port = port if port is not None else DEFAULT_PORTS[scheme]
    shown = f"[{host}]" if ":" in host else host
    netloc = shown if port == DEFAULT_PORTS[scheme] else f"{shown}:{port}"
    return CanonicalUrl(urlunsplit((scheme, netloc, parts.path or "/", parts.query, parts.fragment)),
                        scheme, host, port)


def _canonical_host(bracketed: bool, hostname: str) -> str:
    if bracketed:
        if "%" in hostname:
            raise UrlRefused("has an IPv6 address with a zone id")
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:
            raise UrlRefused("has a bracketed host that is not a plain IPv6 address") from None
    if not hostname.isascii():
        raise UrlRefused("has a host that is not ASCII; give its punycode (xn--) form")
    host = hostname.lower().removesuffix(".")
    if len(host) > MAX_HOST_CHARS or not _NAME.fullmatch(host):
        raise UrlRefused("has a host that is not a plain DNS name or address")
    if _ENDS_IN_NUMBER.search(host):
        try:
            return str(ipaddress.IPv4Address(host))
        except ValueError:
            raise UrlRefused("has an IPv4 address not written as four decimal numbers") from None
    return host


def normalize_host(host: str) -> str:
    """A listed host as ``canonical_url`` writes hosts: lower case, no brackets, no trailing dot, IPs compressed."""
    host = host.strip().lower().strip("[]").removesuffix(".")
    address = _literal(host)
    return str(address) if address is not None else host


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet.

    An IPv6 address that carries an IPv4 one (IPv4-mapped, 6to4, NAT64 ``64:ff9b::/96``) is judged by the IPv4
    address; Teredo, NAT64 local-use (``64:ff9b:1::/48``) and site-local (``fec0::/10``) addresses are never public.
    """
    if isinstance(address, ipaddress.IPv6Address):
        if address.teredo is not None or address in _NAT64_LOCAL or address.is_site_local:
            return False
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            address = embedded
    if isinstance(address, ipaddress.IPv4Address) and address in _IETF_PROTOCOL:
        return False
    if (address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
            or address.is_multicast or address.is_reserved):
        return False
    return address.is_global


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None


def _not_public(host: str, raw: str) -> str:
    return (f"host {host!r} resolves to a non-public address ({raw}); list it in serve.allowed_hosts "
            "to allow it")


class HostPolicy:
    """``serve.allowed_hosts`` applied to meeting URLs (and, more loosely, to status webhooks)."""

    def __init__(self, allowed_hosts: Sequence[str], *, resolve: Resolver = resolve_host) -> None:
        """Args: the listed hosts (names or addresses); ``resolve`` looks a name up (tests inject one)."""
        self._allowed = frozenset(normalize_host(h) for h in allowed_hosts)
        self._resolve = resolve

    async def check_meeting_url(self, url: str) -> str:
        """Refuse a meeting URL the bot may not open; return the canonical URL to give the bot instead.

        Raises:
            UrlRefused: why (bad form, a host not listed, a host with a non-public address).
        """
        parts = canonical_url(url)
        if self._allowed:
            if parts.host not in self._allowed:
                raise UrlRefused(f"host {parts.host!r} is not in serve.allowed_hosts")
            return parts.url
        await self._check_public(parts)
        return parts.url

    async def check_webhook_url(self, url: str) -> str:
        """Refuse a status webhook URL (public hosts, or hosts listed in ``allowed_hosts``, only); return it canonical.

        Raises:
            UrlRefused: why.
        """
        parts = canonical_url(url)
        if parts.host not in self._allowed:
            await self._check_public(parts)
        return parts.url

    def check_webhook_address(self, url: str) -> None:
        """At send time: refuse a webhook URL whose host is a non-public IP literal and not listed.

        Names are left to ``webhook_resolver``, which checks them as the connection is made.

        Raises:
            UrlRefused: why.
        """
        host = canonical_url(url).host
        literal = _literal(host)
        if host not in self._allowed and literal is not None and not is_public(literal):
            raise UrlRefused(f"address {host} is not public; list it in serve.allowed_hosts to allow it")

    def webhook_resolver(self) -> PublicOnlyResolver:
        """A resolver for the status webhooks' aiohttp connector: checks the addresses when connecting."""
        return PublicOnlyResolver(self._allowed)

    async def _check_public(self, parts: CanonicalUrl) -> None:
        host = parts.host
        literal = _literal(host)
        if literal is not None:
            if not is_public(literal):
                raise UrlRefused(f"address {host} is not public (private, loopback, link-local or reserved); "
                                 "list it in serve.allowed_hosts to allow it")
            return
        try:
            addresses = await self._resolve(host, parts.port)
        except OSError as exc:
            raise UrlRefused(f"host {host!r} cannot be resolved ({exc.strerror or exc})") from None
        if not addresses:
            raise UrlRefused(f"host {host!r} has no address")
        for raw in addresses:
            address = _literal(raw)
            if address is None or not is_public(address):
                raise UrlRefused(_not_public(host, raw))


class PublicOnlyResolver(AbstractResolver):
    """An aiohttp resolver that refuses a name with any non-public address, unless the name is listed.

    The check happens as the connection is made, so a name rebound to 127.0.0.1 or 169.254.169.254 after it was
    accepted is refused then. aiohttp does not resolve IP literals: check those with ``HostPolicy`` first.
    """

    def __init__(self, allowed_hosts: frozenset[str], inner: AbstractResolver | None = None) -> None:
        """Args: the listed hosts (as ``normalize_host`` writes them); ``inner`` resolves (default: threaded)."""
        self._allowed = allowed_hosts
        self._inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        """The inner resolver's answer, or OSError when the host is not listed and an address is not public."""
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        if normalize_host(host) in self._allowed:
            return results
        for result in results:
            address = _literal(result["host"])
            if address is None or not is_public(address):
                raise OSError(errno.EACCES, _not_public(normalize_host(host), result["host"]))
        return results

    async def close(self) -> None:
        """Close the inner resolver."""
        if self._inner is not None:
            await self._inner.close()
