"""HTTP11Connection against a scripted HTTP/1.1 peer: misbehaviour on demand.

The peer is a real TCP server on loopback that reads each request head and
answers with scripted bytes, whole or one byte at a time.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTPConnection
from hyper.exceptions import (
    ConnectionClosed,
    HTTP11Error,
    LocalProtocolError,
    ReadTimeout,
)

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


class Peer:
    """Serves scripted connections, one after the other.

    Each connection's script is a list of replies, one per request head
    received; after its last reply the peer closes that connection. A reply
    of None closes it at once, without answering.
    """

    def __init__(self, connections: list[list[bytes | None]], feed: str) -> None:
        self.scripts = [list(c) for c in connections]
        self.feed = feed
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        for script in self.scripts:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                conn.settimeout(5)
                # The client may go away: what the test checks is its side.
                with contextlib.suppress(OSError):
                    self._serve_one(conn, script)

    def _serve_one(self, conn: socket.socket, script: list[bytes | None]) -> None:
        buffer = b""
        for reply in script:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(65536)
                if not data:
                    return
                buffer += data
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            self.requests.append(head)
            if reply is None:
                return
            if self.feed == "whole":
                conn.sendall(reply)
            else:
                for i in range(len(reply)):
                    conn.sendall(reply[i:i + 1])
        # Let the client read everything before the close.
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        with contextlib.suppress(OSError):
            while conn.recv(65536):
                pass

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


@pytest.fixture(params=["whole", "bytewise"])
def feed(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peer_factory(feed: str) -> Iterator[Any]:
    peers: list[Peer] = []

    def make(*connections: list[bytes | None]) -> Peer:
        peer = Peer(list(connections), feed)
        peers.append(peer)
        return peer

    yield make
    for peer in peers:
        peer.close()


def connect(peer: Peer, timeout: Any = 5) -> HTTP11Connection:
    return HTTP11Connection("127.0.0.1", peer.port, timeout=timeout)


def test_keep_alive_and_reason(peer_factory: Any) -> None:
    peer = peer_factory([OK, OK])
    conn = connect(peer)
    for _ in range(2):
        conn.request("GET", "/")
        resp = conn.get_response()
        assert (resp.status, resp.reason, resp.read()) == (200, "OK", b"hello")
    assert peer.connections == 1
    assert peer.requests[0].startswith(b"GET / HTTP/1.1\r\nhost: 127.0.0.1:")
    conn.close()


def test_chunked_body_and_trailers(peer_factory: Any) -> None:
    reply = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
             b"3\r\nabc\r\n0\r\nx-checksum: 42\r\n\r\n")
    conn = connect(peer_factory([reply]))
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.trailers is None
    assert b"".join(resp.read_chunked()) == b"abc"
    assert resp.trailers is not None
    assert resp.trailers[b"x-checksum"] == [b"42"]
    conn.close()


def test_informational_responses_are_skipped(peer_factory: Any) -> None:
    conn = connect(peer_factory([b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK]))
    conn.request("GET", "/")
    assert conn.get_response().status == 200
    conn.close()


def test_close_delimited_body(peer_factory: Any) -> None:
    peer = peer_factory([b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"], [OK])
    conn = connect(peer)
    conn.request("GET", "/")
    assert conn.get_response().read() == b"until the end"
    # The server closed: the next request reconnects by itself.
    conn.request("GET", "/again")
    assert conn.get_response().read() == b"hello"
    conn.close()


def test_socket_closed_mid_body(peer_factory: Any) -> None:
    conn = connect(peer_factory([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"]))
    conn.request("GET", "/")
    resp = conn.get_response()
    with pytest.raises(ConnectionClosed, match="mid-message"):
        resp.read()


def test_closed_before_the_response(peer_factory: Any) -> None:
    conn = connect(peer_factory([None]))
    conn.request("GET", "/")
    with pytest.raises(ConnectionClosed):
        conn.get_response()


def test_malformed_response(peer_factory: Any) -> None:
    conn = connect(peer_factory([b"HTTP/1.1 2x0 Broken\r\n\r\n"]))
    conn.request("GET", "/")
    with pytest.raises(HTTP11Error, match=r"broke HTTP/1\.1"):
        conn.get_response()


def test_silent_server_times_out(peer_factory: Any) -> None:
    peer = peer_factory([b"", None])  # answers nothing, keeps the connection open
    conn = connect(peer, timeout=(5, 0.3))
    conn.request("GET", "/")
    with pytest.raises(ReadTimeout):
        conn.get_response()


def test_one_request_at_a_time(peer_factory: Any) -> None:
    conn = connect(peer_factory([OK, OK]))
    conn.request("GET", "/")
    with pytest.raises(LocalProtocolError, match="previous response"):
        conn.request("GET", "/second")
    conn.get_response().read()
    with pytest.raises(LocalProtocolError):
        conn.get_response()
    conn.close()


def test_abandoned_body_closes_the_connection(peer_factory: Any) -> None:
    peer = peer_factory([b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789"], [OK])
    conn = connect(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.read(3) == b"012"
    resp.close()
    assert resp.closed
    conn.request("GET", "/")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_idle_connection_closed_by_server_is_noticed(peer_factory: Any) -> None:
    peer = peer_factory([OK], [OK])
    conn = connect(peer)
    conn.request("GET", "/")
    conn.get_response().read()
    # The peer closes its first connection after its one reply.
    deadline = time.monotonic() + 5
    while conn.check_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert conn._sock is None  # noticed, dropped: the next request reconnects
    assert conn.is_idle() and conn.is_usable() and conn.stream_capacity() == 1
    conn.request("GET", "/")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_upgrade_pending_connection_reports_capacity(peer_factory: Any) -> None:
    peer = peer_factory([OK])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=5)
    assert conn.stream_capacity() == 1 and conn.is_idle() and conn.check_alive()
    assert conn.request("GET", "/") is None
    assert conn.negotiated_protocol == "http/1.1"
    head = peer.requests[0].lower()
    assert b"upgrade: h2c" in head and b"http2-settings:" in head
    assert conn.get_response().read() == b"hello"
    conn.close()
