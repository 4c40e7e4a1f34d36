"""bot.serve.policy: URLs the browser would read differently refused, the canonical URL, embedded IPv4 in IPv6,
and status webhooks refused at connection time when their name now resolves to a non-public address."""

from __future__ import annotations

import base64
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from pydantic import SecretStr

from bot.config import WebhookSettings
from bot.delivery.errors import DeliveryError
from bot.delivery.webhook import WebhookSender
from bot.serve.policy import HostPolicy, UrlRefused, canonical_url, is_public
from tests.doubles.hooks import HookReceiver, hook_receiver

NAMES = {"meet.example.org": ["93.184.216.34"], "hook.example.org": ["93.184.216.35"]}


async def fake_resolve(host: str, port: int) -> list[str]:
    """A resolver that knows a few names (tests send no DNS queries)."""
    if host not in NAMES:
        raise OSError(-2, "Name or service not known")
    return NAMES[host]


LISTED = HostPolicy(["meet.example.org"], resolve=fake_resolve)
OPEN = HostPolicy([], resolve=fake_resolve)


@pytest.mark.parametrize(("url", "why"), [
    # Python reads the host after the "@", the browser reads "\" as "/" and goes to the address before it
    ("http://127.0.0.1:8080\\@meet.example.org/room", "backslash"),
    ("http://169.254.169.254\\@meet.example.org/room", "backslash"),
    ("https://meet.example.org\\.evil.example/room", "backslash"),
    ("https://meet.example.org/room\\x", "backslash"),
    ("https://user:pw@meet.example.org/room", "user info"),
    ("https://@meet.example.org/room", "user info"),
    # the browser reads these as IPv4 addresses (127.0.0.1), Python's resolver does not have to
    ("http://2130706433/room", "four decimal"), ("http://0x7f.1/room", "four decimal"),
    ("http://127.1/room", "four decimal"), ("http://0177.0.0.1/room", "four decimal"),
    ("http://meet.example.org.0x7f/room", "four decimal"),
    ("http://127.0.0.%31/room", "plain DNS name"), ("http://meet..example.org/room", "plain DNS name"),
    ("http://meet.example.org:0/room", "port 0"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/room", "ASCII"),
    ("http://[::1%25eth0]/room", "zone id"), ("http://[fe80::1%eth0]/room", "zone id"),
    ("http:///meet.example.org/room", "no host"), ("http:meet.example.org/room", "no host"),
])
@pytest.mark.parametrize("policy", [LISTED, OPEN], ids=["listed", "open"])
async def test_urls_the_browser_could_read_differently_are_refused(policy: HostPolicy, url: str, why: str) -> None:
    with pytest.raises(UrlRefused, match=why):
        await policy.check_meeting_url(url)


@pytest.mark.parametrize(("given", "canonical"), [
    ("HTTPS://Meet.Example.ORG.:443/Room?jwt=abc#config.x=1", "https://meet.example.org/Room?jwt=abc#config.x=1"),
    ("http://meet.example.org:8443", "http://meet.example.org:8443/"),
    ("https://meet.example.org:0443/r", "https://meet.example.org/r"),
    ("https://[2606:4700:0::1111]:8443/r", "https://[2606:4700::1111]:8443/r"),
])
async def test_the_check_returns_the_canonical_url_to_launch(given: str, canonical: str) -> None:
    assert await HostPolicy([], resolve=fake_resolve).check_meeting_url(given) == canonical
    assert canonical_url(canonical).url == canonical  # a fixed point
    assert await HostPolicy(["MEET.example.org.", "[2606:4700::0:1111]"]).check_meeting_url(given) == canonical
    assert await OPEN.check_webhook_url(given) == canonical


@pytest.mark.parametrize(("address", "public"), [
    ("2002:7f00:1::1", False), ("2002:a00:1::1", False), ("2002:5db8:d822::1", True),  # 6to4: its IPv4
    ("2001:0:5ef5:79fd:0:59d:a0e5:ba1", False),  # Teredo
    ("fec0::1", False), ("fc00::1", False),  # site-local, unique local
    ("64:ff9b::7f00:1", False), ("64:ff9b::a9fe:a9fe", False), ("64:ff9b::5db8:d822", True),  # NAT64: its IPv4
    ("64:ff9b:1::5db8:d822", False),  # NAT64 local use
    ("::7f00:1", False), ("::ffff:0:7f00:1", False), ("::ffff:7f00:1", False), ("::ffff:5db8:d822", True),
    ("100.64.0.1", False), ("192.0.0.8", False), ("198.18.0.1", False), ("0.1.2.3", False),
    ("93.184.216.34", True), ("2606:4700::1111", True),
])
def test_embedded_and_special_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_a_listed_address_embedded_form_must_be_listed_itself() -> None:
    with pytest.raises(UrlRefused):
        await OPEN.check_meeting_url("https://[2002:7f00:1::1]/room")
    assert await HostPolicy(["2002:7f00:1::1"]).check_meeting_url("https://[2002:7f00:1::1]/room")


# ---------------------------------------------------------------- webhooks at send time

class Rebinding(AbstractResolver):
    """Answers every name with one address (a name rebound since it was checked)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.asked: list[str] = []

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        self.asked.append(host)
        return [{"hostname": host, "host": self.address, "port": port, "family": socket.AF_INET, "proto": 0,
                 "flags": socket.AI_NUMERICHOST}]

    async def close(self) -> None:
        pass


@pytest.fixture
async def receiver() -> AsyncIterator[HookReceiver]:
    async with hook_receiver() as hooks:
        yield hooks


def _settings() -> WebhookSettings:
    return WebhookSettings(secret=SecretStr("whsec_" + base64.b64encode(b"k" * 32).decode()), max_attempts=1,
                           timeout_s=5)


async def test_a_webhook_name_rebound_to_loopback_is_refused_when_sending_unless_listed(
        receiver: HookReceiver) -> None:
    got = receiver.received
    url = f"http://hook.example.org:{receiver.port}/hook"
    assert await OPEN.check_webhook_url(url)  # public when the bot was created
    got.clear()
    for policy, delivered in ((OPEN, False), (HostPolicy(["hook.example.org"]), True)):
        rebinding = Rebinding("127.0.0.1")
        resolver = policy.webhook_resolver()
        resolver._inner = rebinding  # noqa: SLF001 -- the test's stand-in for DNS
        async with WebhookSender(_settings(), resolver=resolver, check_url=policy.check_webhook_address,
                                 sleep=lambda _s: _noop()) as sender:
            if delivered:
                await sender.send("msg_1", b"{}", url=url)
            else:
                with pytest.raises(DeliveryError, match="non-public|127.0.0.1"):
                    await sender.send("msg_1", b"{}", url=url)
        assert rebinding.asked == ["hook.example.org"]
        assert len(got) == (1 if delivered else 0)


async def test_a_webhook_to_a_non_public_literal_is_refused_when_sending_unless_listed(
        receiver: HookReceiver) -> None:
    got = receiver.received
    url = f"http://127.0.0.1:{receiver.port}/hook"
    got.clear()
    async with WebhookSender(_settings(), resolver=OPEN.webhook_resolver(),
                             check_url=OPEN.check_webhook_address) as sender:
        with pytest.raises(DeliveryError, match="not public") as caught:
            await sender.send("msg_1", b"{}", url=url)
        assert not caught.value.retryable
    assert got == []
    listed = HostPolicy(["127.0.0.1"])
    async with WebhookSender(_settings(), resolver=listed.webhook_resolver(),
                             check_url=listed.check_webhook_address) as sender:
        await sender.send("msg_1", b"{}", url=url)
    assert len(got) == 1


async def _noop() -> None:
    return None
