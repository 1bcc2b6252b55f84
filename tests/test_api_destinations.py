"""Where webhooks may go: the address checks and the request rewritten to the address
that was checked, with a stand-in resolver (no network)."""

from __future__ import annotations

import ipaddress

import pytest

from telephony.api.destinations import DestinationRefused, Destinations, Resolve


def resolver(*addresses: str) -> Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        if not addresses:
            raise OSError("no such host")
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.9", False),
        ("192.168.0.1", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("::1", False),
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.216.34", True),
    ],
)
def test_only_public_addresses_are_permitted_by_default(address: str, public: bool) -> None:
    assert Destinations().permitted(ipaddress.ip_address(address)) is public


def test_allowed_networks_open_private_addresses_one_by_one() -> None:
    d = Destinations(["10.0.0.0/8", "::1"])
    assert d.permitted(ipaddress.ip_address("10.9.9.9"))
    assert d.permitted(ipaddress.ip_address("::1"))
    assert not d.permitted(ipaddress.ip_address("192.168.0.1"))
    assert Destinations(["*"]).permitted(ipaddress.ip_address("192.168.0.1"))


async def test_the_request_goes_to_the_address_that_was_checked() -> None:
    d = Destinations(resolve=resolver("93.184.216.34"))
    target = await d.target("https://hooks.example.com:8443/in?x=1#frag")
    assert target.url == "https://93.184.216.34:8443/in?x=1"
    assert target.host == "hooks.example.com:8443" and target.tls_name == "hooks.example.com"
    plain = await d.target("http://hooks.example.com/in")
    assert plain.url == "http://93.184.216.34/in" and plain.tls_name is None
    six = await Destinations(resolve=resolver("2606:2800::1")).target("http://h.example/")
    assert six.url == "http://[2606:2800::1]/"


async def test_a_host_with_any_private_address_is_refused() -> None:
    mixed = Destinations(resolve=resolver("93.184.216.34", "10.0.0.1"))
    with pytest.raises(DestinationRefused, match=r"10\.0\.0\.1, not a public address"):
        await mixed.target("https://rebind.example.com/")
    with pytest.raises(DestinationRefused, match="cannot resolve"):
        await Destinations(resolve=resolver()).target("https://nowhere.example/")


def test_registration_refuses_literal_private_addresses_and_localhost_names() -> None:
    d = Destinations()
    for url in ("http://127.0.0.1/", "http://LOCALHOST/", "http://api.localhost/", "http://[::1]/"):
        with pytest.raises(DestinationRefused):
            d.check_literal(url)
    d.check_literal("https://hooks.example.com/")  # a name: checked when delivered to
    with pytest.raises(DestinationRefused, match="cannot be parsed"):
        d.check_literal("http://[::1/")
    Destinations(["127.0.0.1"]).check_literal("http://localhost:9000/")
