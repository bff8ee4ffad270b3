"""HTTP11Connection against a scripted HTTP/1.1 peer: misbehaviour on demand.

The peer (tests/tcppeer.py) is a real TCP server on loopback that reads each
request head and answers with scripted bytes, whole or one byte at a time;
one script per connection it accepts.
"""

from __future__ import annotations

import time

import pytest

from hyper import HTTPConnection
from hyper.exceptions import (
    ConnectionClosed,
    HTTP11Error,
    LocalProtocolError,
    ReadTimeout,
)
from tcppeer import OK, Peers, fin, h1, hang_up, head, reply


def test_keep_alive_and_reason(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK), head(), reply(OK)])
    conn = h1(peer)
    for _ in range(2):
        conn.request("GET", "/")
        resp = conn.get_response()
        assert (resp.status, resp.reason, resp.read()) == (200, "OK", b"hello")
    assert peer.connections == 1
    assert peer.heads[0].startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:")
    conn.close()


def test_chunked_body_and_trailers(tcp_peers: Peers) -> None:
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"3\r\nabc\r\n0\r\nx-checksum: 42\r\n\r\n")
    conn = h1(tcp_peers([head(), reply(answer)]))
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.trailers is None
    assert b"".join(resp.read_chunked()) == b"abc"
    assert resp.trailers is not None
    assert resp.trailers[b"x-checksum"] == [b"42"]
    conn.close()


def test_informational_responses_are_skipped(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" + OK)]))
    conn.request("GET", "/")
    resp = conn.get_response()
    # Read to the end: fed byte by byte, the peer is still sending the body.
    assert (resp.status, resp.read()) == (200, b"hello")
    conn.close()


def test_close_delimited_body(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"),
                  fin()],
                 [head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    assert conn.get_response().read() == b"until the end"
    # The server closed: the next request reconnects by itself.
    conn.request("GET", "/again")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_socket_closed_mid_body(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this"),
                     fin()]))
    conn.request("GET", "/")
    resp = conn.get_response()
    with pytest.raises(ConnectionClosed, match="mid-message"):
        resp.read()


def test_closed_before_the_response(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), hang_up()]))
    conn.request("GET", "/")
    with pytest.raises(ConnectionClosed):
        conn.get_response()


def test_malformed_response(tcp_peers: Peers) -> None:
    # The client may give up before the last byte of the bad head is sent.
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 2x0 Broken\r\n\r\n", tolerate_close=True)]))
    conn.request("GET", "/")
    with pytest.raises(HTTP11Error, match=r"broke HTTP/1\.1"):
        conn.get_response()


def test_silent_server_times_out(tcp_peers: Peers) -> None:
    # Answers nothing and keeps the connection open until the client leaves.
    peer = tcp_peers([head()])
    conn = h1(peer, timeout=(5, 0.3))
    conn.request("GET", "/")
    with pytest.raises(ReadTimeout):
        conn.get_response()


def test_one_request_at_a_time(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    with pytest.raises(LocalProtocolError, match="previous response"):
        conn.request("GET", "/second")
    conn.get_response().read()
    with pytest.raises(LocalProtocolError):
        conn.get_response()
    conn.close()
    peer.join()
    assert peer.conns[0].drained == 0  # the refused request never reached the wire


def test_abandoned_body_closes_the_connection(tcp_peers: Peers) -> None:
    # Fed byte by byte, the body is still being sent when the client gives up.
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789",
                                tolerate_close=True)],
                 [head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.read(3) == b"012"
    resp.close()
    assert resp.closed
    conn.request("GET", "/")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_idle_connection_closed_by_server_is_noticed(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK), fin()], [head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    conn.get_response().read()
    # The peer closes its first connection after its one reply.
    deadline = time.monotonic() + 10
    while conn.check_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert conn._sock is None  # noticed, dropped: the next request reconnects
    assert conn.is_idle() and conn.is_usable() and conn.stream_capacity() == 1
    conn.request("GET", "/")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_upgrade_pending_connection_reports_capacity(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=5)
    assert conn.stream_capacity() == 1 and conn.is_idle() and conn.check_alive()
    assert conn.request("GET", "/") is None
    assert conn.negotiated_protocol == "http/1.1"
    request = peer.heads[0].lower()
    assert b"upgrade: h2c" in request and b"http2-settings:" in request
    assert conn.get_response().read() == b"hello"
    conn.close()
