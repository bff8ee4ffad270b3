"""HTTP/1.1 framing attacks (RFC 9112 sections 5, 6 and 7).

A response whose length cannot be known for sure is refused with
:class:`HTTP11Error` (never guessed: a wrong guess hands the rest of one
response to the next request), the connection is dropped, and the next
request goes out on a new connection to the peer's next script.
"""

from __future__ import annotations

import contextlib
import threading

import pytest

from faults.support import TIMEOUT, bounded, fails_with, h1_get, h2_pool
from hyper import HTTPConnection
from hyper.exceptions import (
    HTTP11Error,
    InvalidChunkedBodyError,
    InvalidContentLengthError,
    RemoteProtocolError,
)
from tcppeer import JOIN_TIMEOUT, OK, Peers, TcpPeer, head, reply, wait

pytestmark = pytest.mark.timeout(60)

REFUSED = {
    # RFC 9112 section 6.3: "If a message is received without
    # Transfer-Encoding and with an invalid Content-Length header field, then
    # the message framing is invalid".
    "conflicting-content-lengths": b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    "content-length-list": b"Content-Length: 5, 6\r\n\r\nhello!",
    "negative-content-length": b"Content-Length: -5\r\n\r\nhello",
    "non-numeric-content-length": b"Content-Length: 0x5\r\n\r\nhello",
    # Section 7.1: chunk-size = 1*HEXDIG.
    "non-hex-chunk-size": b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    "negative-chunk-size": b"Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
    "chunk-longer-than-its-size": b"Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n",
    "endless-chunk-size": b"Transfer-Encoding: chunked\r\n\r\n" + b"f" * 100 + b"\r\nx",
    # Section 6.1: a final coding other than chunked leaves the length unknown
    # to a request, and "chunked" applied twice is an error.
    "chunked-twice": b"Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
    # Section 5: no whitespace between the field name and the colon.
    "space-before-colon": b"Content-Length : 5\r\n\r\nhello",
}


def _refusal(kind: str) -> type[HTTP11Error]:
    """The error for each kind: the Content-Length and chunk-size faults have
    their own (the adapter maps them as urllib3 does)."""
    if kind.endswith("content-length") or kind.startswith("content-length") \
            or kind == "conflicting-content-lengths":
        return InvalidContentLengthError
    if "chunk-size" in kind or kind == "chunk-longer-than-its-size":
        return InvalidChunkedBodyError
    return HTTP11Error


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_ambiguous_framing_is_refused(tcp_peers: Peers, kind: str) -> None:
    answer = b"HTTP/1.1 200 OK\r\n" + REFUSED[kind]
    peer = tcp_peers([head(), reply(answer, tolerate_close=True)], [head(), reply(OK)])
    with h2_pool() as pool:
        with fails_with(_refusal(kind)):
            h1_get(pool, peer.port).read()
        assert h1_get(pool, peer.port).read() == b"hello"


def test_obs_fold_is_unfolded(tcp_peers: Peers) -> None:
    """Section 5.2: "A user agent that receives an obs-fold in a response
    message ... MUST replace each received obs-fold with one or more SP
    octets prior to interpreting the field value"."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: a\r\n folded\r\n\r\nhello"
    peer = tcp_peers([head(), reply(answer), head(), reply(OK)])
    with h2_pool() as pool, bounded():
        response = h1_get(pool, peer.port)
        assert response.headers[b"x-a"] == [b"a folded"]
        assert response.read() == b"hello"
        assert h1_get(pool, peer.port).read() == b"hello"


def _xfail_peer(*scripts: list[object]) -> TcpPeer:
    """A peer for the xfail tests: while the fault is there it may wait for
    a connection that never comes, so it gives up soon and is joined quietly
    (see :func:`_end_quietly`); once fixed, the test joins it for real."""
    return TcpPeer(*scripts, timeout=3)  # type: ignore[arg-type]


def _end_quietly(peer: TcpPeer) -> None:
    peer.thread.join(JOIN_TIMEOUT)


def test_transfer_encoding_with_content_length_ends_the_connection() -> None:
    """Section 6.3: "If a message is received with both a Transfer-Encoding
    and a Content-Length header field, the Transfer-Encoding overrides the
    Content-Length. Such a message might indicate an attempt to perform
    request smuggling ... or response splitting ... and ought to be handled
    as an error": at least, the connection is not used again."""
    answer = (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n")
    peer = _xfail_peer([head(), reply(answer)], [head(), reply(OK)])
    try:
        with h2_pool() as pool, bounded():
            # Refusing the response is fine too.
            with contextlib.suppress(HTTP11Error):
                h1_get(pool, peer.port).read()
            assert h1_get(pool, peer.port).read() == b"hello"
        peer.join()
    finally:
        _end_quietly(peer)


EXCESS = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"


def test_bytes_past_the_end_of_a_response_are_not_the_next_response() -> None:
    peer = _xfail_peer([head(), reply(OK + EXCESS)],
                       [head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ngood")])
    try:
        with h2_pool() as pool, bounded():
            assert h1_get(pool, peer.port).read() == b"hello"
            assert h1_get(pool, peer.port).read() == b"good"
        peer.join()
    finally:
        _end_quietly(peer)


SWITCH = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"


def test_a_101_nobody_asked_for(tcp_peers: Peers) -> None:
    peer = tcp_peers([head(), reply(SWITCH, tolerate_close=True)], [head(), reply(OK)])
    with h2_pool() as pool:
        with fails_with(HTTP11Error):
            h1_get(pool, peer.port).read()
        assert h1_get(pool, peer.port).read() == b"hello"


def test_a_101_to_websocket_answering_an_h2c_upgrade() -> None:
    released = threading.Event()
    peer = _xfail_peer([head(), reply(SWITCH), wait(released)])
    # Far longer than the bound: the error must come at once, not at the timeout.
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=(TIMEOUT, 10 * TIMEOUT))
    try:
        with bounded(TIMEOUT), pytest.raises(RemoteProtocolError, match="websocket"):
            conn.get_response(conn.request("GET", "/"))
    finally:
        released.set()
        conn.close()
        _end_quietly(peer)
