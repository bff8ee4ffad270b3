"""A long-lived HTTPConnection survives the server ending connections.

Servers end connections on purpose: nginx sends GOAWAY after
``keepalive_requests``, hypercorn after ``keep_alive_max_requests``, an
HTTP/1.1 server closes after ``Connection: close``. Like http.client, the
HTTPConnection opens a new connection for the next request, and sends again
the requests the server did not process.
"""

from __future__ import annotations

import ssl
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from hyper import HTTPConnection
from hyper.exceptions import LocalProtocolError, StreamNotProcessedError
from tcppeer import OK, Peers, head, reply

SEQUENTIAL = 200
CONCURRENT = 150
THREADS = 16


def _fetch(conn: HTTPConnection, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    stream_id = conn.request("POST" if body is not None else "GET", path, body=body)
    response = conn.get_response(stream_id)
    return response.status, response.read()


def _sequential(conn: HTTPConnection, path: str, expected: bytes) -> None:
    for n in range(SEQUENTIAL):
        assert _fetch(conn, path) == (200, expected), n


def _concurrent(conn: HTTPConnection, path_for: Any) -> None:
    def one(n: int) -> tuple[int, bytes]:
        return _fetch(conn, path_for(n))

    with ThreadPoolExecutor(THREADS) as executor:
        results = list(executor.map(one, range(CONCURRENT), timeout=120))
    assert results == [(200, f"t{n}".encode()) for n in range(CONCURRENT)]


@pytest.fixture
def nginx_50(start_nginx: Any) -> Any:
    return start_nginx("keepalive_requests 50;")


def test_nginx_goaway_every_50_sequential(nginx_50: Any, ssl_context: ssl.SSLContext) -> None:
    expected = (nginx_50.htdocs / "small.txt").read_bytes()
    with HTTPConnection(nginx_50.host, nginx_50.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        _sequential(conn, "/small.txt", expected)
        assert conn.negotiated_protocol == "h2"


def test_nginx_goaway_every_50_concurrent(nginx_50: Any, ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(nginx_50.host, nginx_50.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        _concurrent(conn, lambda n: f"/app/token/t{n}")


def test_nginx_http11_close_every_50(nginx_50: Any) -> None:
    plain = nginx_50.plain
    expected = (nginx_50.htdocs / "small.txt").read_bytes()
    with HTTPConnection(plain.host, plain.port, timeout=15, h2c="off") as conn:
        _sequential(conn, "/small.txt", expected)
        assert conn.negotiated_protocol == "http/1.1"


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "h2c-upgrade"])
def test_hypercorn_request_limit(start_hypercorn: Any, ssl_context: ssl.SSLContext,
                                 tls: bool) -> None:
    """Sequential only: with streams in flight at its limit, hypercorn sends
    GOAWAY(NO_ERROR) and then, for a stream that crossed it, GOAWAY
    (PROTOCOL_ERROR), which also kills streams it had accepted and begun to
    answer (their heads were handed out, so nothing can resend them). nginx
    finishes what it accepted: the concurrent case runs against nginx."""
    server = start_hypercorn(tls, keep_alive_max_requests=50)
    with HTTPConnection(server.host, server.port, secure=tls, ssl_context=ssl_context,
                        timeout=15) as conn:
        for n in range(SEQUENTIAL):
            assert _fetch(conn, f"/token/s{n}") == (200, f"s{n}".encode())
        assert conn.version == 20


def test_unprocessed_upload_is_sent_again(start_nginx: Any,
                                          ssl_context: ssl.SSLContext) -> None:
    """Requests above GOAWAY's last_stream_id are sent again with their body."""
    server = start_nginx("keepalive_requests 3;")
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        ids = [conn.request("POST", "/app/echo", body=f"body {n}".encode()) for n in range(6)]
        bodies = [conn.get_response(stream_id).read() for stream_id in ids]
        assert bodies == [f"body {n}".encode() for n in range(6)]
        assert len(set(ids)) == 6


def test_unreplayable_body_raises_retry_safe(start_nginx: Any,
                                             ssl_context: ssl.SSLContext) -> None:
    """A body that can't be sent twice (an iterator) is not sent again: the
    error says the server did not process the request."""
    server = start_nginx("keepalive_requests 1;")
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        first = conn.request("GET", "/small.txt")
        second = conn.request("POST", "/app/echo", body=iter([b"once"]))
        assert conn.get_response(first).status == 200
        with pytest.raises(StreamNotProcessedError) as info:
            conn.get_response(second)
        assert info.value.retry_safe
        # The next request goes out on a new connection.
        assert _fetch(conn, "/app/token/after") == (200, b"after")


def test_old_connection_closes_once_read(start_nginx: Any,
                                         ssl_context: ssl.SSLContext) -> None:
    server = start_nginx("keepalive_requests 2;")
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        first = conn.request("GET", "/small.txt")
        first_conn = conn.connection
        assert first_conn is not None
        responses = [conn.get_response(first)]
        for _ in range(3):
            responses.append(conn.get_response(conn.request("GET", "/small.txt")))
        assert conn.connection is not first_conn
        for response in responses:
            response.read()
        assert first_conn._sock is None


def test_threads_share_reconnects(start_nginx: Any, ssl_context: ssl.SSLContext) -> None:
    """Threads that find the connection ended open one new connection, not one each."""
    server = start_nginx("keepalive_requests 5;")
    opened: list[object] = []
    lock = threading.Lock()
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        original = conn._open

        def counting_open() -> Any:
            made = original()
            with lock:
                opened.append(made)
            return made

        conn._open = counting_open  # type: ignore[method-assign]

        def one(n: int) -> tuple[int, bytes]:
            return _fetch(conn, f"/app/token/t{n}")

        with ThreadPoolExecutor(8) as executor:
            results = list(executor.map(one, range(40), timeout=120))
        assert results == [(200, f"t{n}".encode()) for n in range(40)]
        # 40 requests, at most 5 per connection: at least 8 connections; a
        # request may be refused more than once, yet never one per thread.
        assert 8 <= len(opened) <= 40


# -- request IDs and the negotiating connection's bookkeeping ---------------------------


def test_connect_twice_keeps_one_connection(nginx_50: Any, ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(nginx_50.host, nginx_50.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        conn.connect()
        first = conn.connection
        conn.connect()
        assert conn.connection is first


def test_unknown_request_id(nginx_50: Any, ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(nginx_50.host, nginx_50.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        with pytest.raises(LocalProtocolError, match="No request has been sent"):
            conn.get_response(1)
        stream_id = conn.request("GET", "/small.txt")
        assert stream_id is not None
        with pytest.raises(LocalProtocolError, match=f"stream {stream_id + 2}"):
            conn.get_response(stream_id + 2)
        conn.get_response(stream_id).read()
        with pytest.raises(LocalProtocolError, match="No request is waiting"):
            conn.get_response()


def test_pushes_by_request_id(nghttpd_server: Any, ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(nghttpd_server.host, nghttpd_server.port, secure=True,
                        ssl_context=ssl_context, enable_push=True, timeout=15) as conn:
        stream_id = conn.request("GET", "/index.html")
        pushes = list(conn.get_pushes(stream_id, capture_all=True))
        assert [push.path for push in pushes] == [b"/pushed.css"]
        assert conn.get_response(stream_id).status == 200


def test_http11_response_must_be_read_before_the_next_request(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK), head(), reply(OK)])
    with HTTPConnection("127.0.0.1", peer.port, h2c="off", timeout=5) as conn:
        assert conn.request("GET", "/") is None
        with pytest.raises(LocalProtocolError, match="previous response"):
            conn.request("GET", "/next")
        assert conn.get_response().read() == b"hello"
        conn.request("GET", "/next")
        assert conn.get_response().read() == b"hello"
