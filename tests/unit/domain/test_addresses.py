"""The outbound address policy: every internal range is refused, in every spelling."""

from __future__ import annotations

import ipaddress

import pytest

from maestro_ml.domain.addresses import forbidden_reason, name_reason, parse_host
from maestro_ml.domain.errors import InvalidInput


@pytest.mark.parametrize(("address", "reason"), [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),
    ("64:ff9b::7f00:1", "loopback"),
    ("2002:7f00:1::", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("::ffff:192.168.1.1", "private"),
    ("fc00::1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0.1.2.3", "unspecified"),
    ("::", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("198.18.0.1", "reserved"),
    ("fec0::1", "site-local"),
])
def test_internal_addresses_are_forbidden_with_their_reason(address, reason):
    assert forbidden_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", [
    "93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "::ffff:8.8.8.8",
    "172.32.0.1", "100.128.0.1",
])
def test_public_unicast_addresses_are_allowed(address):
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("host", "address"), [
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0177.0.0.01", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("0", "0.0.0.0"),
    ("017700000001", "127.0.0.1"),
    ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("10.1", "10.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1"),
])
def test_legacy_ipv4_spellings_normalise_to_the_address(host, address):
    assert parse_host(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "files.example.org.", "a-b.c_d.io"])
def test_dns_names_parse_to_none(host):
    assert parse_host(host) is None


@pytest.mark.parametrize("host", [
    "1.2.3.4.5", "256.0.0.1", "1.2.3.09", "4294967296", "a b", "ex..com", "[::g]", "",
])
def test_malformed_hosts_are_refused(host):
    with pytest.raises(InvalidInput):
        parse_host(host)


@pytest.mark.parametrize(("name", "reason"), [
    ("localhost", "loopback"), ("LOCALHOST.", "loopback"), ("api.localhost", "loopback"),
    ("metadata.google.internal", "cloud metadata"), ("example.com", None),
])
def test_names_refused_without_dns(name, reason):
    assert name_reason(name) == reason
