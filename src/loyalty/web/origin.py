"""Where a request came from: the client address, believing X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

from starlette.requests import Request

from loyalty.auth.principal import Origin

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _unmapped(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """An IPv4 address as dual-stack sockets report it (::ffff:10.0.0.1) is that IPv4 address."""
    return (ip.ipv4_mapped or ip) if isinstance(ip, ipaddress.IPv6Address) else ip


def _trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = _unmapped(ipaddress.ip_address(address))
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_ip(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str | None:
    """The address of the client: the peer, unless the peer is a trusted proxy.

    Behind trusted proxies, X-Forwarded-For is read from the right (the hops our proxies appended)
    and the first address that is not a trusted proxy is the client. Anything further left was
    written by the client and proves nothing.
    """
    if peer is None or not forwarded_for or not _trusted(peer, proxies):
        return peer
    client = peer
    for hop in reversed([hop.strip() for hop in forwarded_for.split(",") if hop.strip()]):
        try:
            ip = _unmapped(ipaddress.ip_address(hop))
        except ValueError:
            break  # not an address: nothing written further left can be believed
        client = str(ip)
        if not any(ip in network for network in proxies):
            break
    return client


def origin(
    request_id: str, peer: str | None, header: Callable[[str], str | None], proxies: Sequence[Network]
) -> Origin:
    """The request id, client address and user agent of a request from ``peer`` whose headers ``header``
    reads, for the activity log."""
    return Origin(
        request_id=request_id,
        source_ip=client_ip(peer, header("x-forwarded-for"), proxies),
        user_agent=header("user-agent"),
    )


def request_origin(request: Request, proxies: Sequence[Network]) -> Origin:
    """The origin of a Starlette ``request``."""
    peer = request.client.host if request.client else None
    return origin(request.state.request_id, peer, request.headers.get, proxies)
