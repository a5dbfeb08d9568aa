"""Outbound address policy: which IP addresses a server-side fetch may reach, and how a URL's
host is read as an address (pure — no DNS, no sockets).

``forbidden_reason(ip)`` names why an address is off limits (loopback, private, link-local,
cloud metadata, CGNAT, multicast, reserved, unspecified, ...) or returns None for a public
unicast address. IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``,
NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``) are judged by the IPv4 address inside, because
that is where the packets end up.

``parse_host(host)`` reads a URL host the way browsers and ``inet_aton`` do (WHATWG URL
IPv4 parser): ``2130706433``, ``0x7f.1``, ``0177.0.0.1`` and ``127.1`` are all 127.0.0.1.
A host whose last label is a number must be a valid address, otherwise it is refused — no
name is ever resolved for something that looks like a number.
"""

from __future__ import annotations

import ipaddress
import re

from .errors import InvalidInput

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
})
# Names that are loopback or metadata by definition, refused without asking DNS.
FORBIDDEN_NAMES = {
    "localhost": "loopback",
    "metadata.google.internal": "cloud metadata",
    "metadata": "cloud metadata",
}
_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = tuple(
    (ipaddress.ip_network(net), reason) for net, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("100.64.0.0/10", "carrier-grade NAT"),
        ("192.0.0.0/24", "reserved"),
        ("198.18.0.0/15", "reserved"),
        ("fec0::/10", "site-local"),
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_HEX_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*")
_NAME = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?")


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), or None."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip.sixtofour


def forbidden_reason(ip: IPAddress) -> str | None:
    """Why a fetch must not reach ``ip``, or None when it is a public unicast address.

    >>> forbidden_reason(ipaddress.ip_address("::ffff:127.0.0.1"))
    'loopback'
    """
    inner = embedded_ipv4(ip)
    if inner is not None:
        return forbidden_reason(inner)
    if isinstance(ip, ipaddress.IPv6Address) and ip.scope_id:
        return "link-local"
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    for network, reason in _NETWORKS:
        if ip.version == network.version and ip in network:
            return reason
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def parse_host(host: str) -> IPAddress | None:
    """The address a URL host spells, in any legacy IPv4 form; None for a DNS name.

    Raises InvalidInput for a host that is neither a valid address nor a valid name.

    >>> str(parse_host("0x7f.1"))
    '127.0.0.1'
    """
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            raise InvalidInput(f"url: '{host}' is not a valid IPv6 address") from None
    labels = text.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    if labels and _is_number(labels[-1]):
        return _legacy_ipv4(host, labels)
    if not text or not _NAME.fullmatch(text):
        raise InvalidInput(f"url: '{host}' is not a valid host name")
    return None


def name_reason(name: str) -> str | None:
    """Why a host name is refused before any DNS lookup (``localhost``, ``*.localhost``,
    metadata names), or None."""
    text = name.lower().rstrip(".")
    if text in FORBIDDEN_NAMES:
        return FORBIDDEN_NAMES[text]
    if text.endswith(".localhost"):
        return "loopback"
    return None


def _is_number(label: str) -> bool:
    return label.isdigit() or bool(_HEX_NUMBER.fullmatch(label))


def _legacy_ipv4(host: str, labels: list[str]) -> ipaddress.IPv4Address:
    if len(labels) > 4:
        raise InvalidInput(f"url: '{host}' is not a valid IPv4 address")
    numbers = []
    for label in labels:
        number = _ipv4_number(label)
        if number is None:
            raise InvalidInput(f"url: '{host}' is not a valid IPv4 address")
        numbers.append(number)
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        raise InvalidInput(f"url: '{host}' is not a valid IPv4 address (a part is too large)")
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int | None:
    if not label:
        return None
    base, digits = 10, label
    if label[:2].lower() == "0x":
        base, digits = 16, label[2:] or "0"
    elif len(label) > 1 and label.startswith("0"):
        base, digits = 8, label[1:]
    try:
        return int(digits, base)
    except ValueError:
        return None
