"""hyper 0.7's request API on HTTP20Connection (putrequest, putheader,
endheaders, send; request with a body of every kind), against the scripted
h2 peer, its steps written whole and one byte at a time.
"""

from __future__ import annotations

import threading

import pytest
from hyperframe.frame import DataFrame

from h2helpers import data_of
from h2peer import (
    Harness,
    expect_frame,
    expect_request,
    handshake,
    respond,
    wait_event,
)
from hyper import HTTP11Connection, HTTP20Connection
from hyper.exceptions import (
    LocalProtocolError,
    StreamNotProcessedError,
)

pytestmark = pytest.mark.timeout(60)


def test_unknown_keyword_arguments_are_refused() -> None:
    for cls in (HTTP20Connection, HTTP11Connection):
        with pytest.raises(TypeError, match="bogus"):
            cls("127.0.0.1", 1, bogus=True)


def test_putheader_replace_and_headers_http2_drops(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/form")
    conn.putheader("X-Tag", "first", stream_id=sid)
    conn.putheader("x-tag", "second", stream_id=sid)
    conn.putheader("x-tag", "only", stream_id=sid, replace=True)
    # Host becomes :authority; RFC 9113 section 8.2.2 forbids the
    # connection-specific ones, and TE other than "trailers".
    conn.putheader("Host", "example.test:8080")
    conn.putheader("Connection", "keep-alive")
    conn.putheader("Keep-Alive", "timeout=5")
    conn.putheader("TE", "gzip")
    conn.endheaders(message_body=b"a=1", final=True, stream_id=sid)
    assert conn.get_response(sid).read() == b"ok"
    h.finish()
    request = peer.requests["r"]
    assert request.authority == "example.test:8080"
    assert request.get_all("x-tag") == ["only"]
    names = {name for name, _ in request.headers}
    assert not names & {"host", "connection", "keep-alive", "te"}
    assert b"".join(f.data for f in data_of(peer, sid)) == b"a=1"
    assert "END_STREAM" in data_of(peer, sid)[-1].flags


def test_te_trailers_is_kept(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    sid = conn.request("GET", "/", headers={"TE": "trailers"})
    assert conn.get_response(sid).read() == b"ok"
    h.finish()
    assert peer.requests["r"].get("te") == "trailers"


@pytest.mark.parametrize("how", ["send-empty-final", "empty-iterable"])
def test_body_ended_by_an_empty_data_frame(h: Harness, how: str) -> None:
    """When the end of the body is only known after its last byte went out,
    END_STREAM rides on an empty DATA frame."""
    peer = h.start([handshake(), expect_request("r"),
                    expect_frame(DataFrame, "r", lambda f: "END_STREAM" in f.flags),
                    respond("r", b"got it")])
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/")
    conn.endheaders()
    conn.send(b"abc")
    if how == "send-empty-final":
        conn.send(b"", final=True)
    else:
        conn.send([], final=True, stream_id=sid)
    assert conn.get_response(sid).read() == b"got it"
    h.finish()
    frames = data_of(peer, sid)
    assert b"".join(f.data for f in frames) == b"abc"
    assert frames[-1].data == b""
    assert "END_STREAM" in frames[-1].flags


def test_body_that_yields_nothing(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"),
                    expect_frame(DataFrame, "r", lambda f: "END_STREAM" in f.flags),
                    respond("r", b"empty")])
    conn = h.client(peer)
    sid = conn.request("POST", "/", body=iter([]))
    assert conn.get_response(sid).read() == b"empty"
    h.finish()
    assert [(f.data, "END_STREAM" in f.flags) for f in data_of(peer, sid)] == [(b"", True)]


def test_request_api_misuse_is_a_local_error(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    with pytest.raises(LocalProtocolError, match="putrequest"):
        conn.putheader("x-a", "1")
    with pytest.raises(LocalProtocolError, match="putrequest"):
        conn.endheaders()
    with pytest.raises(LocalProtocolError, match="No open request"):
        conn.send(b"data")
    with pytest.raises(LocalProtocolError, match="No request is waiting"):
        conn.get_response()
    sid = conn.request("GET", "/")
    with pytest.raises(LocalProtocolError, match="No open request"):
        conn.send(b"more", stream_id=sid)  # the GET already ended its stream
    with pytest.raises(LocalProtocolError, match="stream 99"):
        conn.get_response(99)
    assert conn.get_response(sid).read() == b"ok"
    with pytest.raises(LocalProtocolError, match=f"stream {sid}"):
        conn.get_response(sid)
    h.finish()


def test_requests_must_be_ended_in_stream_order(h: Harness) -> None:
    """RFC 9113 section 5.1.1: new stream IDs must increase."""
    peer = h.start([handshake(), expect_request("second"), respond("second", b"2")])
    conn = h.client(peer)
    first = conn.putrequest("GET", "/first")
    second = conn.putrequest("GET", "/second")
    conn.endheaders(final=True, stream_id=second)
    with pytest.raises(LocalProtocolError, match=f"Stream {first} must be sent before"):
        conn.endheaders(final=True, stream_id=first)
    assert conn.get_response(second).read() == b"2"
    assert conn.is_idle()
    h.finish()
    assert [b.path for b in peer.blocks] == ["/second"]


def test_request_h2_refuses_ends_new_requests_on_the_connection(h: Harness) -> None:
    """A CONNECT with a path is no valid HTTP/2 request (RFC 9113 section
    8.5). h2 refuses it only after its HPACK encoder took the headers in, so
    the server's decoder would no longer match: the connection takes no new
    request (safe to retry elsewhere), and the one in flight completes."""
    answer = threading.Event()
    peer = h.start([handshake(), expect_request("r"), wait_event(answer),
                    respond("r", b"in flight")])
    conn = h.client(peer)
    sid = conn.request("GET", "/first")
    with pytest.raises(LocalProtocolError, match="cannot be sent"):
        conn.request("CONNECT", "/")
    assert not conn.is_usable()
    assert conn.stream_capacity() == 0
    with pytest.raises(StreamNotProcessedError) as info:
        conn.request("GET", "/next")
    assert info.value.retry_safe
    answer.set()
    assert conn.get_response(sid).read() == b"in flight"
    h.finish()
    assert [b.path for b in peer.blocks] == ["/first"]
