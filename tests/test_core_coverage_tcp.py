"""Misbehaving TCP peers: HTTP/1.1 servers, CONNECT proxies and TLS servers.

:class:`TcpPeer` accepts one connection on 127.0.0.1 and runs a script of
steps on it in a thread (read a request head, answer bytes whole or one at a
time, stop reading, reset, relay to a real server...). What the client does
is checked in the test; a failure in the peer's thread is re-raised by
:meth:`TcpPeer.join`. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

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

pytestmark = pytest.mark.timeout(60)

STEP_TIMEOUT = 10.0
# More than the kernel buffers of both ends hold, so a sendall blocks when
# the peer stops reading.
STUCK_UPLOAD = b"u" * (64 << 20)
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"


class PeerFailure(AssertionError):
    """The peer's script failed."""


class PeerConn:
    """The accepted connection, as the steps see it."""

    def __init__(self, sock: socket.socket, feed: str) -> None:
        self.sock = sock
        self.feed = feed
        self.buffer = b""
        self.heads: list[bytes] = []
        self.closed = False

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            return b""

    def read_head(self) -> bytes:
        while b"\r\n\r\n" not in self.buffer:
            data = self._recv()
            if not data:
                raise PeerFailure(f"EOF before a request head; got {self.buffer!r}")
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        self.heads.append(head)
        return head

    def read_some(self) -> bytes:
        data = self.buffer or self._recv()
        self.buffer = b""
        return data

    def send(self, data: bytes) -> None:
        if self.feed == "whole":
            self.sock.sendall(data)
        else:
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])

    def reset(self) -> None:
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()
        self.closed = True

    def drain(self, timeout: float) -> None:
        """Read until the client closes (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(1 << 20):
                    return
            except socket.timeout:
                continue
            except OSError:
                return
        raise PeerFailure(f"the client did not close within {timeout} s")


Step = Callable[[PeerConn], None]


class TcpPeer:
    """Accepts one connection and runs ``steps`` on it, in a thread."""

    def __init__(self, steps: list[Step], feed: str = "whole") -> None:
        self.steps = steps
        self.feed = feed
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.listener.settimeout(STEP_TIMEOUT)
        self.port: int = self.listener.getsockname()[1]
        self.conn: PeerConn | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def heads(self) -> list[bytes]:
        return self.conn.heads if self.conn else []

    def _run(self) -> None:
        try:
            sock, _ = self.listener.accept()
            self.listener.close()
            sock.settimeout(STEP_TIMEOUT)
            self.conn = PeerConn(sock, self.feed)
            for step in self.steps:
                step(self.conn)
            if not self.conn.closed:
                self.conn.drain(STEP_TIMEOUT)
                self.conn.sock.close()
        except BaseException as exc:
            self.error = exc
            if self.conn is not None:
                self.conn.sock.close()

    def join(self) -> None:
        self.thread.join(STEP_TIMEOUT * 3)
        self.listener.close()
        assert not self.thread.is_alive(), "the peer thread is stuck"
        if self.error is not None:
            raise PeerFailure(f"the peer failed: {self.error!r}") from self.error


# -- steps -------------------------------------------------------------------------


def head() -> Step:
    return lambda c: c.read_head() and None


def reply(data: bytes, *, tolerate_close: bool = False) -> Step:
    """Send ``data``; with ``tolerate_close`` the client may hang up midway
    (it gives up as soon as it sees the answer is wrong)."""

    def step(c: PeerConn) -> None:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            if not tolerate_close:
                raise
            c.closed = True
            c.sock.close()

    return step


def reset() -> Step:
    return lambda c: c.reset()


def fin() -> Step:
    return lambda c: c.sock.shutdown(socket.SHUT_WR)


def wait(event: threading.Event) -> Step:
    def step(_c: PeerConn) -> None:
        if not event.wait(STEP_TIMEOUT):
            raise PeerFailure("timed out waiting for the test")

    return step


def signal(event: threading.Event) -> Step:
    return lambda _c: event.set()


def read_some() -> Step:
    def step(c: PeerConn) -> None:
        if not c.read_some():
            raise PeerFailure("EOF where data was expected")

    return step


def relay(host: str, port: int) -> Step:
    """From now on, pass bytes both ways between the client and host:port."""

    def step(c: PeerConn) -> None:
        upstream = socket.create_connection((host, port), timeout=STEP_TIMEOUT)
        if c.buffer:
            upstream.sendall(c.buffer)
        deadline = time.monotonic() + 3 * STEP_TIMEOUT
        with upstream:
            pairs = {c.sock: upstream, upstream: c.sock}
            while time.monotonic() < deadline:
                for source, target in pairs.items():
                    source.settimeout(0.01)
                    target.settimeout(STEP_TIMEOUT)
                    try:
                        data = source.recv(65536)
                        if not data:
                            return
                        target.sendall(data)
                    except socket.timeout:
                        continue
                    except (ConnectionResetError, BrokenPipeError):
                        # A side closed with bytes unread (the client after
                        # its GOAWAY, say): the kernel reset the connection.
                        return
        raise PeerFailure("the relay ran out of time")

    return step


@pytest.fixture(params=["whole", "bytewise"])
def feed(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peers(feed: str) -> Iterator[Callable[..., TcpPeer]]:
    """``peers(*steps)`` starts a peer; all are joined after the test."""
    started: list[TcpPeer] = []

    def start(*steps: Step) -> TcpPeer:
        peer = TcpPeer(list(steps), feed)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.join()


def h1(peer: TcpPeer, timeout: Any = 5) -> HTTP11Connection:
    return HTTP11Connection("127.0.0.1", peer.port, timeout=timeout)


# -- HTTP/1.1 requests -----------------------------------------------------------------


def test_connect_twice_keeps_the_socket(peers: Any) -> None:
    peer = peers(head(), reply(OK))
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


def test_headers_the_user_gives_are_not_doubled(peers: Any) -> None:
    peer = peers(head(), reply(OK), head(), reply(OK))
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


def test_body_longer_than_its_content_length_is_refused(peers: Any) -> None:
    peer = peers(head())
    conn = h1(peer)
    with pytest.raises(LocalProtocolError, match="cannot be sent"):
        conn.request("POST", "/", body=iter([b"too long"]), headers={"Content-Length": "3"})
    assert conn._sock is None  # the half-sent request can't be finished: dropped
    conn.close()


def test_switching_protocols_the_client_cannot_follow(peers: Any) -> None:
    peer = peers(head(), reply(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                              b"Connection: Upgrade\r\n\r\n"))
    conn = h1(peer)
    conn.request("GET", "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket"})
    with pytest.raises(HTTP11Error, match="switched protocols unasked"):
        conn.get_response()
    conn.close()


def test_connect_request_answer_is_a_tunnel_not_a_body(peers: Any) -> None:
    peer = peers(head(), reply(b"HTTP/1.1 200 Connection established\r\n\r\n"))
    conn = h1(peer)
    conn.request("CONNECT", "example.test:443")
    resp = conn.get_response()
    assert resp.status == 200
    with pytest.raises(HTTP11Error, match="PAUSED"):
        resp.read()
    resp.close()
    conn.close()


def test_read_after_the_connection_was_closed(peers: Any) -> None:
    peer = peers(head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"))
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    conn.close()
    with pytest.raises(ConnectionClosed, match="is closed"):
        resp.read()


def test_response_close_can_close_the_connection(peers: Any) -> None:
    peer = peers(head(), reply(OK))
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.read() == b"hello"
    assert conn._sock is not None  # kept alive...
    resp.close(socket_close=True)
    assert conn._sock is None  # ...until asked
    assert conn.is_usable()  # a later request reconnects


def test_server_reset_while_the_body_is_read(peers: Any) -> None:
    go = threading.Event()
    peer = peers(head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), wait(go),
                 reset())
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    go.set()
    peer.join()
    with pytest.raises(ConnectionClosed, match="lost"):
        resp.read()
    assert conn._sock is None


def test_upload_to_a_server_that_stopped_reading_times_out(peers: Any) -> None:
    release = threading.Event()
    peer = peers(head(), read_some(), wait(release))
    conn = h1(peer, timeout=(5, 0.5))
    with pytest.raises(WriteTimeout):
        conn.request("POST", "/", body=STUCK_UPLOAD)
    assert conn._sock is None
    release.set()
    conn.close()


def test_server_reset_during_the_upload(peers: Any) -> None:
    peer = peers(head(), read_some(), reset())
    conn = h1(peer, timeout=(5, 10))
    with pytest.raises(ConnectionClosed, match="while sending"):
        conn.request("POST", "/", body=STUCK_UPLOAD)
    assert conn._sock is None


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


def test_interim_answers_before_the_tunnel(peers: Any, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    peer = peers(head(), reply(b"HTTP/1.1 100 Continue\r\n\r\n"
                              b"HTTP/1.1 200 Connection established\r\n\r\n"),
                 relay(h2_server.host, h2_server.port))
    with through_proxy(peer, h2_server, ssl_context) as conn:
        assert conn.get_response(conn.request("GET", "/token/tunnel")).read() == b"tunnel"
    peer.join()
    assert peer.heads[0].startswith(f"CONNECT {h2_server.host}:{h2_server.port} ".encode())


@pytest.mark.parametrize(("answer", "error", "message"), [
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", ProxyError, "refused the tunnel"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", ProxyError, "not valid HTTP/1.1"),
])
def test_proxy_answers_that_open_no_tunnel(
    peers: Any, h2_server: Any, ssl_context: ssl.SSLContext, answer: bytes,
    error: type[Exception], message: str,
) -> None:
    peer = peers(head(), reply(answer, tolerate_close=True))
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(error, match=message):
        conn.request("GET", "/")
    conn.close()


def test_proxy_sending_more_than_its_answer(h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    """Bytes after the 2xx answer, before our ClientHello, can't be the TLS
    server's. (Sent in one piece: bytes arriving after the answer was read
    would be taken for the server's, and fail the handshake instead.)"""
    peer = TcpPeer([head(), reply(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01")], "whole")
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError, match="unexpected data"):
        conn.request("GET", "/")
    peer.join()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_proxy_closes_instead_of_answering(
    peers: Any, h2_server: Any, ssl_context: ssl.SSLContext, how: str
) -> None:
    peer = peers(head(), fin() if how == "fin" else reset())
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError) as info:
        conn.request("GET", "/")
    assert not info.value.retry_safe
    conn.close()


def test_silent_proxy_is_a_connect_timeout(peers: Any, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    release = threading.Event()
    peer = peers(head(), wait(release))
    conn = through_proxy(peer, h2_server, ssl_context, timeout=(0.5, 5))
    with pytest.raises(ConnectTimeout, match="CONNECT answer") as info:
        conn.request("GET", "/")
    assert info.value.retry_safe
    release.set()
    conn.close()


# -- TLS handshakes and TCP connects that fail ---------------------------------------


def test_tls_server_answering_in_plaintext(peers: Any, ssl_context: ssl.SSLContext) -> None:
    peer = peers(read_some(), reply(b"HTTP/1.1 400 Bad Request\r\n\r\n", tolerate_close=True))
    conn = HTTPConnection("127.0.0.1", peer.port, secure=True, ssl_context=ssl_context,
                          timeout=5)
    with pytest.raises(TLSError, match="handshake"):
        conn.request("GET", "/")


def test_tls_server_resetting_the_handshake(peers: Any, ssl_context: ssl.SSLContext) -> None:
    peer = peers(read_some(), reset())
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


def test_no_capacity_while_the_upgrade_request_is_in_flight(peers: Any) -> None:
    """The first request on a plaintext HTTPConnection decides the protocol:
    until its answer, the connection takes nothing else."""
    answer = threading.Event()
    peer = peers(head(), wait(answer), reply(OK))
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=10)
    assert conn.stream_capacity() == 1
    first = threading.Thread(target=conn.request, args=("GET", "/"), daemon=True)
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
    assert conn.get_response().read() == b"hello"
    assert conn.stream_capacity() == 1
    conn.close()
