"""HTTP11Connection against misbehaving HTTP/1.1 servers (tests/tcppeer.py):
repeated connects, headers the user gives, bodies longer than their
Content-Length, interim and 101 answers, reads after a close, resets and
stalls during the body and the upload, early answers to an upload.

A :class:`tcppeer.TcpPeer` accepts a connection on 127.0.0.1 and runs a
script of steps on it in a thread; a failure in the peer's thread is
re-raised by :meth:`TcpPeer.join`. Every wait is bounded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from hyper.exceptions import (
    ConnectionClosed,
    HTTP11Error,
    LocalProtocolError,
    WriteTimeout,
)
from tcppeer import (
    OK,
    Peers,
    body,
    delivered,
    fin,
    h1,
    hang_up,
    head,
    read_some,
    reply,
    reset,
    wait,
)

pytestmark = pytest.mark.timeout(60)


# More than the kernel buffers of both ends hold, so a sendall blocks when
# the peer stops reading.
STUCK_UPLOAD = b"u" * (64 << 20)


def test_connect_twice_keeps_the_socket(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    assert conn.check_alive()  # not connected: nothing to check
    conn.connect()
    sock = conn._sock
    conn.connect()
    assert conn._sock is sock
    conn.request("GET", "/")
    assert conn.check_alive()  # a response is due: not the time to look
    assert conn.get_response().read() == b"hello"
    conn.close()


def test_headers_the_user_gives_are_not_doubled(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), body(), reply(OK), head(), body(), reply(OK)])
    conn = h1(peer)
    conn.request("POST", "/a", body=iter([b"abc"]),
                 headers={"Host": "other.test", "Content-Length": "3"})
    assert conn.get_response().read() == b"hello"
    conn.request("POST", "/b", body=b"xyz", headers={"Transfer-Encoding": "chunked"})
    assert conn.get_response().read() == b"hello"
    conn.close()
    peer.join()
    first, second = (h.lower().split(b"\r\n") for h in peer.heads)
    assert [line for line in first if line.startswith(b"host:")] == [b"host: other.test"]
    assert b"content-length: 3" in first and b"transfer-encoding: chunked" not in first
    assert b"transfer-encoding: chunked" in second
    assert not any(line.startswith(b"content-length") for line in second)
    # Each body framed as its headers say (body() reads them that way).
    assert peer.bodies == [b"abc", b"xyz"]


def test_body_longer_than_its_content_length_is_refused(tcp_peers: Peers) -> None:
    peer = tcp_peers([head()])
    conn = h1(peer)
    with pytest.raises(LocalProtocolError, match="cannot be sent"):
        conn.request("POST", "/", body=iter([b"too long"]), headers={"Content-Length": "3"})
    assert conn._sock is None  # the half-sent request can't be finished: dropped
    conn.close()
    peer.join()
    assert peer.conns[0].drained == 0  # refused before any of the body went out


def test_switching_protocols_the_client_cannot_follow(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               b"Connection: Upgrade\r\n\r\n")])
    conn = h1(peer)
    conn.request("GET", "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    with pytest.raises(HTTP11Error, match="switched protocols unasked"):
        conn.get_response()
    conn.close()


def test_connect_request_answer_is_a_tunnel_not_a_body(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 Connection established\r\n\r\n")])
    conn = h1(peer)
    conn.request("CONNECT", "example.test:443")
    resp = conn.get_response()
    assert resp.status == 200
    with pytest.raises(HTTP11Error, match="PAUSED"):
        resp.read()
    # The tunnel can't be used here: the connection was closed, and the
    # next request opens a new one.
    assert conn.is_idle()
    assert conn._sock is None
    resp.close()
    conn.close()


def test_read_after_the_connection_was_closed(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")])
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    conn.close()
    with pytest.raises(ConnectionClosed, match="is closed"):
        resp.read()


def test_response_close_can_close_the_connection(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.read() == b"hello"
    assert conn._sock is not None  # kept alive...
    resp.close(socket_close=True)
    assert conn._sock is None  # ...until asked
    assert conn.is_usable()  # a later request reconnects


def test_server_reset_while_the_body_is_read(tcp_peers: Peers) -> None:
    go = threading.Event()
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), wait(go),
                  reset()])
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    go.set()
    peer.join()
    with pytest.raises(ConnectionClosed, match="lost"):
        resp.read()
    assert conn._sock is None


def test_upload_to_a_server_that_stopped_reading_times_out(tcp_peers: Peers) -> None:
    release = threading.Event()
    peer = tcp_peers([head(), read_some(), wait(release)])
    conn = h1(peer, timeout=(5, 0.5))
    with pytest.raises(WriteTimeout):
        conn.request("POST", "/", body=STUCK_UPLOAD)
    assert conn._sock is None
    release.set()
    conn.close()


def test_server_reset_during_the_upload(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), read_some(), reset()])
    conn = h1(peer, timeout=(5, 10))
    with pytest.raises(ConnectionClosed, match="while sending"):
        conn.request("POST", "/", body=STUCK_UPLOAD)
    assert conn._sock is None


def test_early_answer_to_an_upload_is_given_to_the_caller(tcp_peers: Peers) -> None:
    """RFC 9112 section 9.5: the server answers 413 and closes without
    reading the body. The upload then fails, yet get_response() gives the
    answer (as urllib3 does), and the next request opens a new connection."""
    answer = (b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n"
              b"Connection: close\r\n\r\ntoo large")
    peer = tcp_peers([head(), reply(answer), fin(), delivered(), hang_up()],
                 [head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")])
    conn = h1(peer, timeout=(5, 10))
    # More than the socket buffers hold: the write fails at the close.
    conn.request("POST", "/upload", body=STUCK_UPLOAD)
    resp = conn.get_response()
    assert (resp.status, resp.read()) == (413, b"too large")
    conn.request("GET", "/next")
    assert conn.get_response().read() == b"ok"
    conn.close()
    assert peer.connections == 2


def test_early_answer_from_a_server_that_stopped_reading(tcp_peers: Peers) -> None:
    """The server answers 413 and stops reading, but keeps the connection
    open: the upload times out, and get_response() gives the answer."""
    release = threading.Event()
    answer = b"HTTP/1.1 413 Content Too Large\r\nContent-Length: 9\r\n\r\ntoo large"
    peer = tcp_peers([head(), reply(answer), wait(release)])
    conn = h1(peer, timeout=(5, 0.5))
    conn.request("POST", "/upload", body=STUCK_UPLOAD)
    resp = conn.get_response()
    assert (resp.status, resp.read()) == (413, b"too large")
    # Half a request went out: the connection is not used again.
    assert conn._sock is None
    release.set()
    conn.close()


def test_failed_body_leaves_no_half_request_behind(tcp_peers: Peers) -> None:
    """A body whose iterator raises cuts the request short: the next
    request goes out on a new connection, not after half a message."""
    def broken_body() -> Iterator[bytes]:
        yield b"part"
        raise ValueError("the body broke")

    peer = tcp_peers([head(), read_some()],
                 [head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")])
    conn = h1(peer)
    with pytest.raises(ValueError, match="the body broke"):
        conn.request("POST", "/upload", body=broken_body())
    conn.request("GET", "/next")
    assert conn.get_response().read() == b"ok"
    conn.close()
    assert peer.heads[1].startswith(b"GET /next ")
