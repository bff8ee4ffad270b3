"""A server that goes silent, at every point: hyper raises
:class:`ReadTimeout` within a bound (a few times the read timeout), and the
next request works (a new connection: the stalled one is given up).

A server that is slow but never silent for a whole read timeout (one byte
every 200 ms under a 2 s timeout) is not stalled: the read timeout bounds
each wait for the next bytes, not the whole response.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from faults.support import NEXT_BODY, TIMEOUT, bounded, fails_with, h1_get, h2_pool
from h2peer import (
    TYPE_DATA,
    TYPE_HEADERS,
    Harness,
    PeerSession,
    call,
    expect_preface,
    expect_request,
    handshake,
    raw_frame,
    respond,
    send,
    send_data,
    send_headers,
    wait_event,
)
from hyper.exceptions import ConnectTimeout, ReadTimeout
from tcppeer import OK, PeerConn, Peers, TcpPeer, head, reply, wait

pytestmark = pytest.mark.timeout(60)

#: The short read timeout of the stall tests.
STALL = 0.5


def _fresh_h2_works(h: Harness) -> None:
    fresh = h.start([handshake(), expect_request("r"), respond("r", NEXT_BODY)])
    conn = h.client(fresh, timeout=TIMEOUT)
    assert conn.get_response(conn.request("GET", "/")).read() == NEXT_BODY


H2_STALLS = {
    "before-headers": [],
    "mid-header-block": [call(lambda s: s.queue(raw_frame(TYPE_HEADERS, 0, s.stream("r"),
                                                          b"\x88")))],
    "after-headers": [send_headers("r", [(":status", "200")])],
    "mid-body": [send(send_headers("r", [(":status", "200")]), send_data("r", b"part"))],
}


@pytest.mark.parametrize("point", sorted(H2_STALLS))
def test_http2_server_silent(h: Harness, point: str) -> None:
    released = threading.Event()
    # The peer waits (silent) until the test has seen the timeout.
    peer = h.start([handshake(), expect_request("r"), *H2_STALLS[point], wait_event(released)])
    conn = h.client(peer, timeout=(TIMEOUT, STALL))
    with fails_with(ReadTimeout, 5 * TIMEOUT):
        conn.get_response(conn.request("GET", "/")).read()
    released.set()
    conn.close()
    _fresh_h2_works(h)
    h.finish()


def test_http2_server_silent_before_its_preface(h: Harness) -> None:
    released = threading.Event()
    peer = h.start([expect_preface(), wait_event(released)])
    conn = h.client(peer, timeout=(STALL, TIMEOUT))
    # The server's SETTINGS are part of connecting (RFC 9113 section 3.4).
    with fails_with(ConnectTimeout, 5 * TIMEOUT):
        conn.get_response(conn.request("GET", "/"))
    released.set()
    conn.close()
    _fresh_h2_works(h)
    h.finish()


H1_STALLS = {
    "before-status": b"",
    "mid-head": b"HTTP/1.1 200 OK\r\nContent-Le",
    "mid-body": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234",
    "mid-chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01",
}


@pytest.mark.parametrize("point", sorted(H1_STALLS))
def test_http11_server_silent(tcp_peers: Peers, point: str) -> None:
    released = threading.Event()
    peer = tcp_peers([head(), reply(H1_STALLS[point]), wait(released)], [head(), reply(OK)])
    with h2_pool() as pool:
        with fails_with(ReadTimeout, 5 * TIMEOUT):
            h1_get(pool, peer.port, timeout=STALL).read()
        released.set()
        assert h1_get(pool, peer.port).read() == b"hello"


TRICKLE_GAP = 0.2


def _trickle(send_bytes: Callable[[bytes], object], whole: bytes, trickled: bytes) -> None:
    """``whole`` at once, then ``trickled`` one byte every TRICKLE_GAP."""
    send_bytes(whole)
    for i in range(len(trickled)):
        time.sleep(TRICKLE_GAP)  # the server's own pace, not a wait for the client
        send_bytes(trickled[i : i + 1])


# The end of the head and the body, 12 bytes: 2.4 s, past the 2 s timeout.
H1_HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\nX-A: b"
H1_TRICKLED = b"\r\n\r\n01234567"


# The trickles feed their own pace: they are not run byte by byte again.


def test_http11_a_trickle_is_not_a_stall() -> None:
    def step(c: PeerConn) -> None:
        _trickle(c.sock.sendall, H1_HEAD, H1_TRICKLED)

    peer = TcpPeer([head(), step])
    with h2_pool() as pool, bounded(5 * TIMEOUT):
        assert h1_get(pool, peer.port, timeout=TIMEOUT).read() == b"01234567"
    peer.join()


def _trickle_h2(session: PeerSession) -> None:
    stream = session.stream("r")
    # HEADERS (":status 200" indexed, END_HEADERS) and DATA "ok" with
    # END_STREAM: 21 bytes, the last 16 trickled (3.2 s).
    frames = (raw_frame(TYPE_HEADERS, 0x4, stream, b"\x88")
              + raw_frame(TYPE_DATA, 0x1, stream, b"ok"))
    _trickle(session.sock.sendall, frames[:5], frames[5:])


def test_http2_a_trickle_is_not_a_stall() -> None:
    h = Harness("whole")
    try:
        peer = h.start([handshake(), expect_request("r"), call(_trickle_h2)])
        conn = h.client(peer, timeout=TIMEOUT)
        with bounded(5 * TIMEOUT):
            assert conn.get_response(conn.request("GET", "/")).read() == b"ok"
        h.finish()
    finally:
        h.teardown()
