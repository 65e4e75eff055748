import pytest

from backend.security.rate_limit import client_address


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:bbbb::9", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("testclient", "testclient"),
        (None, "unknown"),
    ],
    ids=["ipv4", "ipv6", "ipv6-same-64", "ipv4-mapped", "not-an-ip", "no-peer"],
)
def test_the_peer_is_the_client(peer: str | None, expected: str) -> None:
    assert client_address(peer, "", trust_forwarded_for=False) == expected


def test_forwarded_for_is_ignored_unless_trusted() -> None:
    assert client_address("10.0.0.1", "198.51.100.1", trust_forwarded_for=False) == "10.0.0.1"


def test_trusted_proxy_entry_is_the_last_one() -> None:
    # The first entries are whatever the client sent; the proxy appended the last.
    forwarded = "203.0.113.66, 198.51.100.1"
    assert client_address("10.0.0.1", forwarded, trust_forwarded_for=True) == "198.51.100.1"


def test_trusted_but_absent_header_falls_back_to_the_peer() -> None:
    assert client_address("10.0.0.1", "", trust_forwarded_for=True) == "10.0.0.1"
