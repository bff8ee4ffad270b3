"""HTTP/1.1 message boundaries: what ends a response, what ends a connection.

* Desync: bytes after the end of a response (an answer nobody asked for)
  never become the next request's response, on a bare connection and
  through the pool; the connection is dropped and the next request opens a
  new one.
* Reconnect: a connection the server ended (``Connection: close``,
  HTTP/1.0 without keep-alive, an idle close) is replaced before the next
  request is sent; against real servers that close every few requests, 200
  sequential requests on one connection all succeed.
* Framing errors: conflicting Content-Length, a broken chunked body, a TLS
  answer to a plaintext request, too many header fields -- each its own
  hyper error.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTPConnection
from hyper.common.transport import wait_readable
from hyper.exceptions import (
    ConnectionClosed,
    HTTP11Error,
    InvalidChunkedBodyError,
    InvalidContentLengthError,
    InvalidHeaderError,
    LocalProtocolError,
)
from hyper.pool import ConnectionPool
from tcppeer import OK, Peers, delivered, fin, h1, head, reply, signal, wait

UNASKED = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nUNASKED"[:-1]
FRESH = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfresh"


def _get(conn: Any, path: str = "/") -> bytes:
    conn.request("GET", path)
    body: bytes = conn.get_response().read()
    return body


# -- desync --------------------------------------------------------------------------


def test_bytes_after_a_response_never_answer_the_next_request(tcp_peers: Peers) -> None:
    """The stray answer comes with the first one (whole: in h11's buffer;
    bytewise: on the socket once the response ended): either way the next
    request goes out on a new connection."""
    there = threading.Event()
    peer = tcp_peers([head(), reply(OK + UNASKED, tolerate_close=True), delivered(), signal(there)],
                     [head(), reply(FRESH)])
    conn = h1(peer)
    assert _get(conn) == b"hello"
    assert there.wait(10)
    assert _get(conn) == b"fresh"
    assert peer.connections == 2
    conn.close()


def test_bytes_arriving_on_an_idle_connection_drop_it(tcp_peers: Peers) -> None:
    """Sent once the response was read: found when the next request is about
    to go out."""
    read, there = threading.Event(), threading.Event()
    peer = tcp_peers([head(), reply(OK), wait(read), reply(UNASKED), delivered(), signal(there)],
                     [head(), reply(FRESH)])
    conn = h1(peer)
    assert _get(conn) == b"hello"
    read.set()
    assert there.wait(10)
    assert _get(conn) == b"fresh"
    assert peer.connections == 2
    conn.close()


def test_bytes_after_a_response_through_the_pool(tcp_peers: Peers) -> None:
    there = threading.Event()
    peer = tcp_peers([head(), reply(OK + UNASKED, tolerate_close=True), delivered(), signal(there)],
                     [head(), reply(FRESH)])
    url = f"http://127.0.0.1:{peer.port}/"
    with ConnectionPool() as pool:
        assert pool.urlopen("GET", url, h2c="off", timeout=5).read() == b"hello"
        assert there.wait(10)
        assert pool.urlopen("GET", url, h2c="off", timeout=5).read() == b"fresh"
    assert peer.connections == 2


# -- reconnect -------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello",
    b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello",
], ids=["connection-close", "http-1.0"])
def test_a_connection_the_server_ends_is_replaced(tcp_peers: Peers, answer: bytes) -> None:
    peer = tcp_peers([head(), reply(answer), fin()], [head(), reply(FRESH)])
    conn = h1(peer)
    assert _get(conn) == b"hello"
    assert _get(conn) == b"fresh"
    assert peer.connections == 2
    conn.close()


def test_an_idle_close_is_noticed_before_sending(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK), fin()], [head(), reply(FRESH)])
    conn = h1(peer)
    assert _get(conn) == b"hello"
    assert conn._sock is not None and wait_readable(conn._sock, 10)  # the FIN is there
    assert _get(conn) == b"fresh"
    assert peer.connections == 2
    conn.close()


def test_keep_alive_limit_of_nginx(start_nginx: Any) -> None:
    """nginx ends every connection after 3 requests (Connection: close)."""
    nginx = start_nginx("keepalive_requests 3;")
    conn = HTTPConnection(nginx.plain.host, nginx.plain.port, h2c="off", timeout=10)
    with conn:
        bodies = [_get(conn, f"/app/token/n{i}") for i in range(200)]
    assert bodies == [f"n{i}".encode() for i in range(200)]


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plaintext"])
def test_keep_alive_limit_of_hypercorn(start_hypercorn: Any, ssl_context: Any,
                                       tls: bool) -> None:
    server = start_hypercorn(tls, keep_alive_max_requests=3, alpn_protocols=["http/1.1"])
    conn = HTTPConnection(server.host, server.port, secure=tls, ssl_context=ssl_context,
                          h2c="off", timeout=10)
    with conn:
        bodies = [_get(conn, f"/token/h{i}") for i in range(200)]
        assert conn.version == 11
    assert bodies == [f"h{i}".encode() for i in range(200)]


# -- framing errors ---------------------------------------------------------------------


def test_conflicting_content_lengths(tcp_peers: Peers) -> None:
    # (The client may hang up before a peer feeding byte by byte is done.)
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                       b"Content-Length: 6\r\n\r\nhello!", tolerate_close=True)]))
    conn.request("GET", "/")
    with pytest.raises(InvalidContentLengthError, match="conflicting Content-Length"):
        conn.get_response()
    conn.close()


@pytest.mark.parametrize("chunks", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXY0\r\n\r\n"],
                         ids=["bad-size", "bad-chunk-end"])
def test_invalid_chunked_body(tcp_peers: Peers, chunks: bytes) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       + chunks, tolerate_close=True)]))
    conn.request("GET", "/")
    resp = conn.get_response()
    with pytest.raises(InvalidChunkedBodyError, match="broken chunked body"):
        resp.read()
    conn.close()


def test_truncated_chunked_body_is_a_closed_connection(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                       b"5\r\nab"), fin()]))
    conn.request("GET", "/")
    resp = conn.get_response()
    with pytest.raises(ConnectionClosed, match="mid-message"):
        resp.read()
    conn.close()


def test_head_cut_after_whole_lines_fails_at_the_body(tcp_peers: Peers) -> None:
    """As http.client: the close ends the head; the body is what is incomplete."""
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"),
                         fin()]))
    conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.status == 200
    with pytest.raises(ConnectionClosed, match="mid-message"):
        resp.read()
    conn.close()


def test_head_cut_mid_line_is_a_closed_connection(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nTransfer-Enc"), fin()]))
    conn.request("GET", "/")
    with pytest.raises(ConnectionClosed, match="mid-message"):
        conn.get_response()
    conn.close()


def test_reason_phrase_without_surrounding_blanks(tcp_peers: Peers) -> None:
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.0 200  Fine here \r\nContent-Length: 2\r\n\r\nok"),
                         fin()]))
    conn.request("GET", "/")
    resp = conn.get_response()
    assert (resp.version, resp.status, resp.reason, resp.read()) == (10, 200, "Fine here", b"ok")
    conn.close()


def test_tls_answer_to_a_plaintext_request(tcp_peers: Peers) -> None:
    # The start of a TLS alert record (protocol version 3.1).
    conn = h1(tcp_peers([head(), reply(b"\x15\x03\x01\x00\x02\x02\x46"), fin()]))
    conn.request("GET", "/")
    with pytest.raises(HTTP11Error, match=r"the server answered with TLS; use https://$"):
        conn.get_response()
    conn.close()


@pytest.mark.parametrize("limit", [None, 3])
def test_too_many_header_fields(tcp_peers: Peers, limit: int | None) -> None:
    count = 101 if limit is None else 4
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(count - 1))
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\n" + fields +
                                    b"Content-Length: 0\r\n\r\n")])
    conn = h1(peer) if limit is None else HTTP11Connection(
        "127.0.0.1", peer.port, timeout=5, max_headers=limit)
    conn.request("GET", "/")
    with pytest.raises(HTTP11Error, match=f"got more than {limit or 100} headers"):
        conn.get_response()
    conn.close()


def test_exactly_the_header_limit_is_fine(tcp_peers: Peers) -> None:
    fields = b"".join(b"X-%d: v\r\n" % i for i in range(99))
    conn = h1(tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\n" + fields +
                                       b"Content-Length: 2\r\n\r\nok")]))
    assert _get(conn) == b"ok"
    conn.close()


# -- what goes out, what comes back (http.client parity) --------------------------------


def test_http_1_0_response_version(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"), fin()])
    conn = h1(peer)
    conn.request("GET", "/")
    resp = conn.get_response()
    assert (resp.version, resp.read()) == (10, b"ok")
    conn.close()


def test_header_names_and_case_as_given(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("GET", "/", headers=[("baz[]", "1"), ("X-Mixed-Case", "a"), ("lower", "b")])
    assert conn.get_response().read() == b"hello"
    lines = peer.heads[0].split(b"\r\n")
    assert lines[1].startswith(b"Host: 127.0.0.1:")
    assert lines[2:] == [b"baz[]: 1", b"X-Mixed-Case: a", b"lower: b"]
    conn.close()


def test_a_given_host_header_goes_first(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = h1(peer)
    conn.request("POST", "/", body=b"xy", headers=[("Accept", "*/*"), ("host", "example.com")])
    assert conn.get_response().read() == b"hello"
    assert peer.heads[0].split(b"\r\n")[1:] == [
        b"host: example.com", b"Accept: */*", b"Content-Length: 2"]
    conn.close()


@pytest.mark.parametrize("name", ["a:b", "a b", "a\tb", "a\rb", "a\nb", "a\x00b"])
def test_header_names_that_would_break_the_field_line(name: str) -> None:
    conn = HTTP11Connection("127.0.0.1", 9, timeout=5)
    with pytest.raises(InvalidHeaderError, match="colon, whitespace"):
        conn.request("GET", "/", headers=[(name, "v")])


@pytest.mark.parametrize("value", ["a\rb", "a\nb", "a\x00b"])
def test_header_values_with_cr_lf_nul(value: str) -> None:
    conn = HTTP11Connection("127.0.0.1", 9, timeout=5)
    with pytest.raises(InvalidHeaderError, match="it contains"):
        conn.request("GET", "/", headers=[("X-Bad", value)])


def test_a_name_http2_cannot_carry_goes_without_the_h2c_upgrade(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(OK)])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=5)
    conn.request("GET", "/", headers=iter([("baz[]", "1")]))
    assert conn.get_response().read() == b"hello"
    assert conn.negotiated_protocol == "http/1.1"
    assert b"upgrade" not in peer.heads[0].lower()
    assert peer.heads[0].endswith(b"\r\nbaz[]: 1")
    conn.close()


@pytest.mark.parametrize(("method", "target"), [("GE T", "/"), ("GET", "/a b")])
def test_a_request_line_that_would_break_is_refused(method: str, target: str) -> None:
    conn = HTTP11Connection("127.0.0.1", 9, timeout=5)
    with pytest.raises(LocalProtocolError, match="Request cannot be sent"):
        conn.request(method, target)
    assert conn.is_idle()
