"""Connections to URLs others chose: the URL read as the HTTP client reads it, public
addresses told from the operator's own, and a deadline no trickling peer outlasts."""

from __future__ import annotations

import ipaddress
import socket
import threading
import time

import pytest

from loket.core import net
from loket.errors import ValidationFailed


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "240.0.0.1", "255.255.255.255", "192.0.2.1", "::1", "::",
    "fe80::1", "fc00::1", "fec0::1", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254",
    "64:ff9b::a9fe:a9fe", "2002:c0a8:101::1", "2001:db8::1"])
def test_the_operators_own_and_special_addresses_are_not_allowed(address):
    assert not net.address_allowed(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "2606:4700::1111",
                                     "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address):
    assert net.address_allowed(ipaddress.ip_address(address))


def test_a_url_is_read_as_the_client_connects_or_refused_naming_its_field():
    assert net.split_url("https://Hooks.Example:8443/in?x=1") == net.HttpUrl(
        "https", "hooks.example", 8443, "/in?x=1")
    assert net.split_url("http://[::1]/x").host == "::1"
    assert net.split_url("https://hooks.example").port == 443
    for bad in ("http://[::1/x", "http://h:abc/", "ftp://h/", "https://u:p@h/", "https:///x",
                "https://h.example./", "https://h:0/", "https://h/a b", "https://h\\@evil/",
                "https://h\uff1f.evil/"):
        with pytest.raises(ValidationFailed) as refused:
            net.split_url(bad, field="target")
        assert refused.value.errors[0]["field"] == "target", bad


def test_a_name_is_judged_by_every_address_it_resolves_to():
    assert net.refused_address("localhost", 443) is not None
    assert net.refused_address("8.8.8.8", 443) is None
    with pytest.raises(OSError):
        net.resolve("no-such-host.invalid", 443)


def test_a_deadline_cuts_off_a_peer_that_trickles():
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle():
        peer, _ = server.accept()
        with peer:
            while not stop.wait(0.1):
                try:
                    peer.sendall(b"x")
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    with socket.create_connection(server.getsockname(), timeout=5) as sock, \
            net.Deadline(1.0) as limit:
        limit.watch(sock)
        received = b""
        while chunk := sock.recv(10):  # each byte comes well within the socket's timeout
            received += chunk
    stop.set()
    server.close()
    assert limit.expired and received
    assert 0.9 < time.monotonic() - started < 3
