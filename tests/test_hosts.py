"""``ibstream.hosts.host_name``: the name in a ``Host`` header (the service's DNS-rebinding guard
and the simulator's admin guard both read it)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ibstream.hosts import host_name


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost", "localhost"),
        ("LocalHost:8000", "localhost"),
        (" box.lan.:8800 ", "box.lan"),
        ("127.0.0.1:5000", "127.0.0.1"),
        ("[::1]:8000", "::1"),
        ("[::1]", "::1"),
        ("[::1", "::1"),
        ("::1", "::1"),  # two colons: an IPv6 address without brackets, not a port
        ("evil.example.com.", "evil.example.com"),
        ("", ""),
        (":80", ""),
        ("[]:80", ""),
    ],
)
def test_host_name(header: str, name: str) -> None:
    assert host_name(header) == name


@given(st.text(max_size=40))
def test_host_name_is_lower_case_without_a_port_or_trailing_dot(header: str) -> None:
    name = host_name(header)
    assert name == name.lower() and not name.endswith(".")
    assert name in header.strip().lower()
