"""Connecting fails: a TLS server answering in plaintext or resetting the
handshake, a TCP connect that times out.
"""

from __future__ import annotations

import contextlib
import socket
import ssl

import pytest

from hyper import HTTP11Connection, HTTPConnection
from hyper.exceptions import (
    ConnectError,
    ConnectTimeout,
    TLSError,
)
from tcppeer import (
    Peers,
    read_some,
    reply,
    reset,
)

pytestmark = pytest.mark.timeout(60)


def test_tls_server_answering_in_plaintext(tcp_peers: Peers, ssl_context: ssl.SSLContext) -> None:
    peer = tcp_peers([read_some(),
                  reply(b"HTTP/1.1 400 Bad Request\r\n\r\n", tolerate_close=True)])
    conn = HTTPConnection("127.0.0.1", peer.port, secure=True, ssl_context=ssl_context,
                          timeout=5)
    with pytest.raises(TLSError, match="handshake"):
        conn.request("GET", "/")


def test_tls_server_resetting_the_handshake(tcp_peers: Peers, ssl_context: ssl.SSLContext) -> None:
    peer = tcp_peers([read_some(), reset()])
    conn = HTTPConnection("127.0.0.1", peer.port, secure=True, ssl_context=ssl_context,
                          timeout=5)
    with pytest.raises(ConnectError, match="lost during the TLS handshake"):
        conn.request("GET", "/")


def test_tcp_connect_timeout() -> None:
    """A listener whose accept queue is full lets a SYN go unanswered."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers: list[socket.socket] = []
    try:
        for _ in range(8):  # fill the queue (its size depends on the kernel)
            filler = socket.socket()
            fillers.append(filler)
            filler.settimeout(0.3)
            try:
                filler.connect(address)
            except socket.timeout:
                break
        else:
            pytest.fail("the accept queue never filled up")
        conn = HTTP11Connection(*address, timeout=(0.3, 5))
        with pytest.raises(ConnectTimeout, match="connecting") as info:
            conn.request("GET", "/")
        assert info.value.retry_safe
    finally:
        for filler in fillers:
            with contextlib.suppress(OSError):
                filler.close()
        listener.close()
