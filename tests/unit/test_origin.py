"""The client address of a request: X-Forwarded-For is believed only as far as trusted proxies vouch for it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from loyalty.config import Settings
from loyalty.web.origin import Network, client_ip

PROXIES: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("fd00::/8"),
)
PROXY = "10.0.0.1"  # a trusted peer: the last proxy before the app


def _is_ip(value: str | None) -> bool:
    try:
        ipaddress.ip_address(value or "")
    except ValueError:
        return False
    return True


def test_without_forwarded_for_the_client_is_the_peer() -> None:
    assert client_ip(PROXY, None, PROXIES) == PROXY
    assert client_ip("198.51.100.4", None, PROXIES) == "198.51.100.4"


def test_without_a_peer_there_is_no_address() -> None:
    assert client_ip(None, "203.0.113.7", PROXIES) is None


@pytest.mark.parametrize("proxies", [(), PROXIES], ids=["no-trusted-proxies", "peer-not-trusted"])
def test_forwarded_for_from_an_untrusted_peer_is_ignored(proxies: tuple[Network, ...]) -> None:
    assert client_ip("198.51.100.4", "203.0.113.7", proxies) == "198.51.100.4"


@pytest.mark.parametrize(
    ("forwarded_for", "client"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("203.0.113.7, 10.0.0.2", "203.0.113.7"),
        ("203.0.113.7,10.1.2.3,10.0.0.2", "203.0.113.7"),
        ("  203.0.113.7 ,  10.0.0.2  ", "203.0.113.7"),
    ],
)
def test_the_right_most_address_no_trusted_proxy_holds_is_the_client(forwarded_for: str, client: str) -> None:
    assert client_ip(PROXY, forwarded_for, PROXIES) == client


@pytest.mark.parametrize(
    "forwarded_for",
    [
        "198.51.100.66, 203.0.113.7",  # the client claims to be someone else
        "10.9.9.9, 203.0.113.7, 10.0.0.2",  # ... or to be one of our proxies
        "garbage, 1.1.1.1, 203.0.113.7",
    ],
)
def test_hops_left_of_the_client_are_spoofable_and_ignored(forwarded_for: str) -> None:
    assert client_ip(PROXY, forwarded_for, PROXIES) == "203.0.113.7"


def test_a_chain_of_only_trusted_proxies_gives_the_left_most_of_them() -> None:
    assert client_ip(PROXY, "10.0.0.3, 10.0.0.2", PROXIES) == "10.0.0.3"


@pytest.mark.parametrize(
    "forwarded_for",
    [
        "",
        " , ,",
        "unknown",
        "not-an-address",
        "999.1.1.1",
        "<script>alert(1)</script>",
        pytest.param("x" * 1000, id="1000-chars"),
    ],
)
def test_a_forwarded_for_without_a_client_address_gives_the_peer(forwarded_for: str) -> None:
    """A proxy that knows no client (Squid writes "unknown") or a mangled header: the peer is all we know."""
    assert client_ip(PROXY, forwarded_for, PROXIES) == PROXY


@pytest.mark.parametrize("forwarded_for", ["203.0.113.7, unknown", "203.0.113.7, 10.0.0.2, not-an-address"])
def test_a_garbage_hop_is_never_taken_for_the_client(forwarded_for: str) -> None:
    ip = client_ip(PROXY, forwarded_for, PROXIES)

    assert _is_ip(ip), f"{forwarded_for!r} gave {ip!r}, which is not an IP address"


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("::1", "2001:db8::7", "2001:db8::7"),
        ("fd00::1", "2001:db8::7, fd00::2", "2001:db8::7"),
        ("fd00::1", "203.0.113.7, fd00::2", "203.0.113.7"),  # an IPv4 client behind IPv6 proxies
        ("::1", "2001:db8::66, 2001:db8::7", "2001:db8::7"),
        ("2001:db8::9", "2001:db8::7", "2001:db8::9"),  # an untrusted IPv6 peer
        (PROXY, "fd00::3, fd00::2", "fd00::3"),
    ],
)
def test_ipv6_peers_and_hops_follow_the_same_rules(peer: str, forwarded_for: str, client: str) -> None:
    assert client_ip(peer, forwarded_for, PROXIES) == client


def test_a_settings_copy_trusts_the_proxies_it_names(tmp_path: Path) -> None:
    """Tests (and tools) derive settings with model_copy; the copy must not keep the original's proxies."""
    settings = Settings(database_url="sqlite+aiosqlite:///unused.db", data_dir=tmp_path)
    assert settings.trusted_networks == ()  # the app reads it once, at start

    copy = settings.model_copy(update={"trusted_proxies": "127.0.0.1,10.0.0.0/8"})

    assert copy.trusted_networks == (
        ipaddress.ip_network("127.0.0.1/32"),
        ipaddress.ip_network("10.0.0.0/8"),
    )
