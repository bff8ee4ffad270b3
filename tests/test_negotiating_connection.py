"""The negotiating HTTPConnection: its h2c setting, what it knows before the
first request, its capacity while an h2c Upgrade request is in flight, and
the HTTP/1.1 connection it hands over to HTTP/2.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTPConnection
from hyper.exceptions import (
    InvalidURLError,
    LocalProtocolError,
)
from tcppeer import (
    OK,
    Peers,
    head,
    reply,
    wait,
)

pytestmark = pytest.mark.timeout(60)


def test_h2c_mode_is_checked() -> None:
    with pytest.raises(InvalidURLError, match="h2c must be"):
        HTTPConnection("127.0.0.1", 80, h2c="sometimes")


def test_nothing_is_known_before_the_first_request(h1_server: Any) -> None:
    conn = HTTPConnection(h1_server.host, h1_server.port, timeout=5, h2c="off")
    assert conn.version is None and conn.negotiated_protocol is None
    assert conn.connection is None
    with pytest.raises(LocalProtocolError, match="No request has been sent"):
        conn.get_response()
    assert conn.request("GET", "/get") is None
    assert conn.negotiated_protocol == "http/1.1"
    # HTTP/1.1 has no server push.
    assert list(conn.get_pushes(capture_all=True)) == []
    assert conn.get_response().status == 200
    conn.close()


def test_no_capacity_while_the_upgrade_request_is_in_flight(tcp_peers: Peers) -> None:
    """The first request on a plaintext HTTPConnection decides the protocol:
    until its answer, the connection takes nothing else."""
    answer = threading.Event()
    peer = tcp_peers([head(), wait(answer), reply(OK)])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=10)
    assert conn.stream_capacity() == 1
    bodies: list[bytes] = []

    def exchange() -> None:
        # (The thread that sends a request on HTTP/1.1 is the one that reads its answer.)
        conn.request("GET", "/")
        bodies.append(conn.get_response().read())

    first = threading.Thread(target=exchange, daemon=True)
    first.start()
    deadline = time.monotonic() + 10
    while conn.stream_capacity() != 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn.stream_capacity() == 0
    assert conn.negotiated_protocol is None
    answer.set()
    first.join(10)
    assert not first.is_alive()
    assert conn.negotiated_protocol == "http/1.1"
    assert bodies == [b"hello"]
    assert conn.stream_capacity() == 1
    conn.close()


def test_http11_connection_that_handed_over_to_http2(h2c_server: Any) -> None:
    """After 101 Switching Protocols the HTTP/1.1 connection underneath has
    given its socket away for good."""
    conn = HTTPConnection(h2c_server.host, h2c_server.port, timeout=5)
    conn.connect()
    http11 = conn.connection
    assert isinstance(http11, HTTP11Connection)
    sid = conn.request("GET", "/get")
    assert conn.version == 20
    assert conn.get_response(sid).status == 200
    assert not http11.is_usable()
    assert not http11.check_alive()
    assert http11.stream_capacity() == 0
    # It never quietly reconnects: its socket now speaks HTTP/2.
    with pytest.raises(LocalProtocolError, match="switched to HTTP/2"):
        http11.request("GET", "/get")
    conn.close()
