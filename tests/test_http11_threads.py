"""One HTTP/1.1 connection shared by threads: exchanges go one at a time.

Against real servers (hypercorn, HTTP/1.1 only over TLS; the stdlib
HTTP/1.1 server in plaintext) many threads hammer one connection and every
answer must be the one asked for; against the scripted peer, the waiting
rules: a bounded wait, the caller's own unfinished exchange, a response
read or closed from another thread, a close from another thread.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from h1load import run_shared
from hyper import HTTP11Connection, HTTPConnection
from hyper.exceptions import ConnectionClosed, LocalProtocolError, PoolTimeout
from servers import Server
from tcppeer import OK, Peers, h1, head, reply, signal, wait

THREADS = 8
PER_THREAD = 50
TIME_BOUND = 120.0


def _connection(kind: str, server: Server, ssl_context: Any) -> Any:
    cls = HTTPConnection if kind == "HTTPConnection" else HTTP11Connection
    return cls(server.host, server.port, secure=server.scheme == "https",
               ssl_context=ssl_context, timeout=30)


@pytest.mark.parametrize("kind", ["HTTPConnection", "HTTP11Connection"])
@pytest.mark.parametrize("fixture", ["h1_tls_server", "h1_server"])
def test_threads_sharing_a_connection_get_their_own_answers(
    request: pytest.FixtureRequest, fixture: str, kind: str, ssl_context: Any,
) -> None:
    server: Server = request.getfixturevalue(fixture)
    conn = _connection(kind, server, ssl_context)
    with conn:
        result = run_shared(conn, THREADS, PER_THREAD, TIME_BOUND)
        version = conn.version
    assert result.stuck == 0
    assert not result.errors
    assert not result.mismatched
    assert result.matched == result.sent == THREADS * PER_THREAD
    assert version == 11, result


def test_a_busy_connection_makes_others_wait_then_time_out(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK), head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/first")
    first = conn.get_response()  # its body not read: the connection stays busy
    errors: list[BaseException] = []

    def second() -> None:
        try:
            conn.request("GET", "/second", timeout=(0.2, 5))
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=second, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], PoolTimeout)
    assert "another thread's request on this HTTP/1.1 connection" in str(errors[0])
    assert first.read() == b"hello"
    # Now free: the same request goes through, on the same connection.
    bodies: list[bytes] = []

    def again() -> None:
        conn.request("GET", "/second")
        bodies.append(conn.get_response().read())

    thread = threading.Thread(target=again, daemon=True)
    thread.start()
    thread.join(10)
    assert bodies == [b"hello"]
    assert peer.connections == 1
    conn.close()


def test_a_waiting_thread_goes_on_when_another_thread_finishes_the_body(
    tcp_peers: Peers,
) -> None:
    """The exchange ends when its body is read, whichever thread reads it."""
    sent = threading.Event()
    peer = tcp_peers([head(), reply(OK), head(), signal(sent), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/a")
    resp = conn.get_response()
    bodies: dict[str, bytes] = {}

    def waiter() -> None:
        conn.request("GET", "/b")  # waits for /a's exchange to end
        bodies["b"] = conn.get_response().read()

    def reader() -> None:
        bodies["a"] = resp.read()

    waiting = threading.Thread(target=waiter, daemon=True)
    waiting.start()
    assert not sent.wait(0.2)  # /b is held back while /a's body is unread
    reading = threading.Thread(target=reader, daemon=True)
    reading.start()
    for thread in (reading, waiting):
        thread.join(10)
    assert bodies == {"a": b"hello", "b": b"hello"}
    assert [h.split(b" ")[1] for h in peer.heads] == [b"/a", b"/b"]
    conn.close()


def test_a_closed_response_lets_the_next_thread_go_on_a_new_connection(
    tcp_peers: Peers,
) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\npartial")],
                     [head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/a")
    resp = conn.get_response()
    bodies: list[bytes] = []

    def waiter() -> None:
        conn.request("GET", "/b")
        bodies.append(conn.get_response().read())

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    resp.close()  # half read: the connection cannot be reused
    thread.join(10)
    assert bodies == [b"hello"]
    assert peer.connections == 2
    conn.close()


def test_the_same_thread_cannot_queue_behind_itself(tcp_peers: Peers) -> None:
    """A second request before the first response was read would wait for
    the caller itself: refused at once."""
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    with pytest.raises(LocalProtocolError, match="Read the previous response"):
        conn.request("GET", "/again")
    resp = conn.get_response()
    with pytest.raises(LocalProtocolError, match="Read the previous response"):
        conn.request("GET", "/again")
    assert resp.read() == b"hello"
    conn.close()


def test_only_the_sending_thread_gets_the_response(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/")
    errors: list[BaseException] = []

    def thief() -> None:
        try:
            conn.get_response()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=thief, daemon=True)
    thread.start()
    thread.join(10)
    assert len(errors) == 1 and isinstance(errors[0], LocalProtocolError)
    assert "No request from this thread" in str(errors[0])
    assert conn.get_response().read() == b"hello"
    conn.close()


def test_close_from_another_thread_wakes_a_blocked_reader(tcp_peers: Peers) -> None:
    """The reader is woken (its socket shut down) and fails with a hyper
    error; the socket is closed once nobody uses it; the connection then
    serves a new request on a new socket."""
    go_on = threading.Event()
    reading = threading.Event()
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12"),
                      signal(reading), wait(go_on)],
                     [head(), reply(OK)])
    conn = h1(peer, timeout=20)
    conn.request("GET", "/slow")
    resp = conn.get_response()
    errors: list[BaseException] = []

    def read() -> None:
        try:
            resp.read()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    assert reading.wait(10)
    conn.close()
    thread.join(10)
    assert not thread.is_alive()
    go_on.set()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosed)
    conn.request("GET", "/")
    assert conn.get_response().read() == b"hello"
    assert peer.connections == 2
    conn.close()


def test_a_response_outlived_by_its_exchange_reads_nothing_more(tcp_peers: Peers) -> None:
    """After close(), another request's bytes are never read by an older
    response."""
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")],
                     [head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789")])
    conn = h1(peer)
    conn.request("GET", "/old")
    old = conn.get_response()
    conn.close()
    conn.request("GET", "/new")
    new = conn.get_response()
    with pytest.raises(ConnectionClosed, match="is closed"):
        old.read()
    old.close()  # a no-op for the running exchange
    assert new.read() == b"0123456789"
    conn.close()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 204 No Content\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",  # to a HEAD request
], ids=["204", "length-0", "head"])
def test_a_response_without_a_body_does_not_hold_the_connection(
    tcp_peers: Peers, answer: bytes,
) -> None:
    """As http.client closes such a response at once, another thread's
    request goes through without anyone reading it."""
    peer = tcp_peers([head(), reply(answer), head(), reply(OK)])
    conn = h1(peer)
    conn.request("HEAD" if b"Length: 5" in answer else "GET", "/")
    empty = conn.get_response()
    bodies: list[bytes] = []

    def other() -> None:
        bodies.append(_get_body(conn))

    thread = threading.Thread(target=other, daemon=True)
    thread.start()
    thread.join(10)
    assert bodies == [b"hello"]
    assert empty.read() == b""
    assert peer.connections == 1
    conn.close()


def _get_body(conn: Any) -> bytes:
    conn.request("GET", "/")
    body: bytes = conn.get_response().read()
    return body
