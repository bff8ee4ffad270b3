"""Misbehaving TCP tcp_peers: HTTP/1.1 servers, CONNECT proxies and TLS servers.

A :class:`tcppeer.TcpPeer` accepts a connection on 127.0.0.1 and runs a
script of steps on it in a thread (read a request head, answer bytes whole or
one at a time, stop reading, reset, relay to a real server...). What the
client does is checked in the test; a failure in the peer's thread is
re-raised by :meth:`TcpPeer.join`. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.exceptions import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    HTTP11Error,
    LocalProtocolError,
    ProxyError,
    TLSError,
    WriteTimeout,
)
from tcppeer import (
    OK,
    PeerFailure,
    Peers,
    TcpPeer,
    body,
    delivered,
    fin,
    h1,
    hang_up,
    head,
    read_some,
    relay,
    reply,
    reset,
    signal,
    wait,
)

pytestmark = pytest.mark.timeout(60)

# More than the kernel buffers of both ends hold, so a sendall blocks when
# the peer stops reading.
STUCK_UPLOAD = b"u" * (64 << 20)



# -- HTTP/1.1 requests -----------------------------------------------------------------


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


def test_default_tls_context_does_not_trust_the_test_ca(h1_tls_server: Any) -> None:
    for conn in (HTTP11Connection(h1_tls_server.host, h1_tls_server.port, secure=True,
                                  timeout=5),
                 HTTPConnection(h1_tls_server.host, h1_tls_server.port, secure=True,
                                timeout=5)):
        with pytest.raises(TLSError, match="verif"):
            conn.request("GET", "/get")
        assert isinstance(conn.ssl_context, ssl.SSLContext)


# -- CONNECT proxies ----------------------------------------------------------------------


def through_proxy(peer: TcpPeer, target: Any, ssl_context: ssl.SSLContext,
                  timeout: Any = 5) -> HTTP20Connection:
    return HTTP20Connection(target.host, target.port, secure=True, ssl_context=ssl_context,
                            proxy_host="127.0.0.1", proxy_port=peer.port, timeout=timeout)


def test_interim_answers_before_the_tunnel(tcp_peers: Peers, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 100 Continue\r\n\r\n"
                               b"HTTP/1.1 200 Connection established\r\n\r\n"),
                  relay(h2_server.host, h2_server.port)])
    with through_proxy(peer, h2_server, ssl_context) as conn:
        assert conn.get_response(conn.request("GET", "/token/tunnel")).read() == b"tunnel"
    peer.join()
    assert peer.heads[0].startswith(f"CONNECT {h2_server.host}:{h2_server.port} ".encode())


@pytest.mark.parametrize(("answer", "error", "message"), [
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", ProxyError, "refused the tunnel"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", ProxyError, "not valid HTTP/1.1"),
])
def test_proxy_answers_that_open_no_tunnel(
    tcp_peers: Peers, h2_server: Any, ssl_context: ssl.SSLContext, answer: bytes,
    error: type[Exception], message: str,
) -> None:
    peer = tcp_peers([head(), reply(answer, tolerate_close=True)])
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(error, match=message):
        conn.request("GET", "/")
    conn.close()


def test_proxy_sending_more_than_its_answer(h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    """Bytes after the 2xx answer, before our ClientHello, can't be the TLS
    server's. (Sent in one piece: bytes arriving after the answer was read
    would be taken for the server's, and fail the handshake instead.)"""
    peer = TcpPeer([head(), reply(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01")], feed="whole")
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError, match="unexpected data"):
        conn.request("GET", "/")
    peer.join()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_proxy_closes_instead_of_answering(
    tcp_peers: Peers, h2_server: Any, ssl_context: ssl.SSLContext, how: str
) -> None:
    peer = tcp_peers([head(), fin() if how == "fin" else reset()])
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError) as info:
        conn.request("GET", "/")
    assert not info.value.retry_safe
    conn.close()


def test_silent_proxy_is_a_connect_timeout(tcp_peers: Peers, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    release = threading.Event()
    peer = tcp_peers([head(), wait(release)])
    conn = through_proxy(peer, h2_server, ssl_context, timeout=(0.5, 5))
    with pytest.raises(ConnectTimeout, match="CONNECT answer") as info:
        conn.request("GET", "/")
    assert info.value.retry_safe
    release.set()
    conn.close()


# -- TLS handshakes and TCP connects that fail ---------------------------------------


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


# -- the peer itself -------------------------------------------------------------------


def test_peer_failure_is_raised_by_join() -> None:
    """A script the client does not follow fails the test, once."""
    peer = TcpPeer([head(), reply(OK)])
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    with pytest.raises(PeerFailure, match="EOF before a request head"):
        peer.join()
    peer.join()  # already reported: the fixture's join must not report it again


def test_stuck_peer_is_raised_by_join() -> None:
    reached, release = threading.Event(), threading.Event()
    peer = TcpPeer([signal(reached), wait(release)])
    client = socket.create_connection(("127.0.0.1", peer.port), timeout=5)
    try:
        assert reached.wait(10)
        with pytest.raises(PeerFailure, match="stuck"):
            peer.join(timeout=0.1)
    finally:
        release.set()
        client.close()
    peer.join()


def test_scripted_connection_never_made_is_raised_by_join() -> None:
    peer = TcpPeer([hang_up()], [hang_up()], timeout=2)
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    with pytest.raises(PeerFailure, match="connection 2 of 2 never came"):
        peer.join()
    assert peer.connections == 1


def test_connection_beyond_the_scripts_is_refused() -> None:
    peer = TcpPeer([hang_up()])
    socket.create_connection(("127.0.0.1", peer.port), timeout=5).close()
    peer.join()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", peer.port), timeout=5)


def test_join_all_joins_every_peer_and_reports_all_failures() -> None:
    started = Peers("whole")
    started([hang_up()], timeout=0.5)
    started([hang_up()], timeout=0.5)
    with pytest.raises(PeerFailure, match=r"never came.*; .*never came"):
        started.join_all()
    assert not any(peer.thread.is_alive() for peer in started.started)
