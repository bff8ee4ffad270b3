"""hyper's HTTP/2 client against misbehaving servers (scripted peer).

What every test here checks besides its own point: the failure reaches the
caller as a :class:`hyper.exceptions.HyperError` (never a raw h2, socket or
ssl error), nothing hangs (the client has a 5 s read timeout, the peer's
every wait has one), and the peer's script ran to its end.
"""

from __future__ import annotations

import struct
import threading
from typing import Any

import pytest
from hyperframe.frame import GoAwayFrame, RstStreamFrame, SettingsFrame

import hyper.http20.exceptions
from h2peer import (
    TYPE_DATA,
    TYPE_HEADERS,
    TYPE_PING,
    TYPE_WINDOW_UPDATE,
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    close,
    expect_goaway,
    expect_preface,
    expect_request,
    handshake,
    push_headers,
    raw_frame,
    respond,
    send,
    send_data,
    send_goaway,
    send_headers,
    send_push_promise,
    send_raw,
    send_rst,
)
from hyper.exceptions import (
    ConnectionClosed,
    HyperError,
    ReadTimeout,
    RemoteProtocolError,
    StreamNotProcessedError,
    StreamResetError,
)

pytestmark = pytest.mark.timeout(30)



def read_whole(conn: Any, stream_id: int) -> bytes:
    data = conn.get_response(stream_id).read()
    assert isinstance(data, bytes)
    return data


def says_closed(exc: BaseException) -> bool:
    return isinstance(exc, ConnectionClosed) or "clos" in str(exc).lower()


# -- GOAWAY -----------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["processed-first", "unprocessed-first"])
def test_goaway_mid_flight(h: Harness, order: str) -> None:
    """RFC 9113 section 6.8: streams up to last_stream_id may still complete;
    those above "were not processed" and are safe to retry."""
    peer = h.start(
        [
            handshake(),
            expect_request("a"),
            expect_request("b"),
            send(send_goaway("a", ErrorCodes.NO_ERROR), respond("a", [b"first ", b"answer"])),
        ]
    )
    conn = h.client(peer)
    first = conn.request("GET", "/a")
    second = conn.request("GET", "/b")

    def check_second() -> None:
        with pytest.raises(StreamNotProcessedError) as info:
            read_whole(conn, second)
        assert info.value.retry_safe is True
        assert info.value.stream_id == second

    if order == "unprocessed-first":
        check_second()
    assert read_whole(conn, first) == b"first answer"
    if order == "processed-first":
        check_second()
    assert not conn.is_usable()
    assert conn.stream_capacity() == 0
    with pytest.raises(HyperError):
        conn.request("GET", "/after-goaway")
    h.finish()
    assert all(b.path != "/after-goaway" for b in peer.blocks)


@pytest.mark.parametrize("then_close", [False, True], ids=["stays-open", "then-fin"])
def test_goaway_with_error_code(h: Harness, then_close: bool) -> None:
    script = [
        handshake(),
        expect_request("r"),
        send_goaway("r", ErrorCodes.PROTOCOL_ERROR, b"you did something wrong"),
    ]
    if then_close:
        script.append(close("fin"))
    peer = h.start(script)
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(hyper.http20.exceptions.ConnectionError) as info:
        read_whole(conn, sid)
    assert isinstance(info.value, hyper.exceptions.ConnectionError)
    assert info.value.error_code == ErrorCodes.PROTOCOL_ERROR
    assert not conn.is_usable()
    with pytest.raises(HyperError):
        conn.request("GET", "/again")
    h.finish()
    assert [b.path for b in peer.blocks] == ["/"]


# -- RST_STREAM ----------------------------------------------------------------------------


def test_rst_stream_fails_only_that_stream(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("a"),
            expect_request("b"),
            send(send_rst("a", ErrorCodes.INTERNAL_ERROR), respond("b", b"b is fine")),
        ]
    )
    conn = h.client(peer)
    first, second = conn.request("GET", "/a"), conn.request("GET", "/b")
    with pytest.raises(StreamResetError) as info:
        read_whole(conn, first)
    assert info.value.stream_id == first
    assert info.value.error_code == ErrorCodes.INTERNAL_ERROR
    assert info.value.retry_safe is False
    assert read_whole(conn, second) == b"b is fine"
    assert conn.is_usable()
    h.finish()


def test_rst_stream_mid_body(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("a"),
            send(
                send_headers("a", [(":status", "200")]),
                send_data("a", b"partial"),
                send_rst("a", ErrorCodes.INTERNAL_ERROR),
            ),
            expect_request("b"),
            respond("b", b"next"),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("GET", "/a")
    resp = conn.get_response(sid)
    assert resp.status == 200
    with pytest.raises(StreamResetError) as info:
        resp.read()
    assert (info.value.stream_id, info.value.error_code) == (sid, ErrorCodes.INTERNAL_ERROR)
    assert read_whole(conn, conn.request("GET", "/b")) == b"next"
    h.finish()


def test_refused_stream_is_retry_safe(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("a"),
            send_rst("a", ErrorCodes.REFUSED_STREAM),
            expect_request("b"),
            respond("b", b"retried"),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("GET", "/a")
    with pytest.raises(StreamResetError) as info:
        read_whole(conn, sid)
    assert info.value.retry_safe is True
    assert info.value.error_code == ErrorCodes.REFUSED_STREAM
    assert read_whole(conn, conn.request("GET", "/a")) == b"retried"
    h.finish()


# -- the connection goes away -------------------------------------------------------------


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_socket_closed_mid_body(h: Harness, how: str) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(
                send_headers("r", [(":status", "200"), ("content-length", "100")]),
                send_data("r", b"only part"),
            ),
            close(how),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(HyperError) as info:
        # With a TCP RST even the headers may be lost: both calls are inside.
        conn.get_response(sid).read()
    assert says_closed(info.value), repr(info.value)
    assert not conn.is_usable()
    h.finish()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_socket_closed_before_response(h: Harness, how: str) -> None:
    peer = h.start([handshake(), expect_request("r"), close(how)])
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(HyperError) as info:
        conn.get_response(sid)
    assert says_closed(info.value), repr(info.value)
    with pytest.raises(HyperError):
        conn.request("GET", "/again")
    h.finish()


def test_silent_server_times_out(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r")])
    # Only the read may time out: connecting (the server's SETTINGS) gets 10 s.
    conn = h.client(peer, timeout=(10, 0.5))
    sid = conn.request("GET", "/")
    with pytest.raises(ReadTimeout):
        conn.get_response(sid)
    h.finish()


def test_server_silent_mid_body_times_out(h: Harness) -> None:
    sent = threading.Event()
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(send_headers("r", [(":status", "200")]), send_data("r", b"a")),
            call(lambda _session: sent.set()),
        ]
    )
    conn = h.client(peer, timeout=(10, 0.5))
    sid = conn.request("GET", "/")
    # The head and first byte are on the wire before the short read timeout
    # starts counting: only the silence after them may time out.
    assert sent.wait(10)
    resp = conn.get_response(sid)
    with pytest.raises(ReadTimeout):
        resp.read()
    h.finish()


# -- oversized header lists ---------------------------------------------------------------

#: hpack's (and so h2's) default limit when the client advertises none.
DEFAULT_HEADER_LIST_LIMIT = 65536
EXCESS = 100 * 1024


def _oversized_headers(repeated: bool) -> Any:
    def step(session: PeerSession) -> None:
        limit = session.client_settings.get(
            SettingsFrame.MAX_HEADER_LIST_SIZE, DEFAULT_HEADER_LIST_LIMIT
        )
        # RFC 9113 section 6.5.2: each field counts name + value + 32 octets.
        target = limit + EXCESS
        value = "v" * 1000
        if repeated:
            # One entry, then indexed references to it: a tiny block that
            # decodes to a huge list (an "HPACK bomb").
            fields = [("x-big", value)] * (target // (5 + 1000 + 32) + 1)
        else:
            fields = [(f"x-big-{i}", value) for i in range(target // (10 + 1000 + 32) + 1)]
        send_headers("r", [(":status", "200"), *fields], end_stream=True)(session)
        session.flush(tolerate_close=True)

    return call(step)


@pytest.mark.parametrize("repeated", [False, True], ids=["distinct", "hpack-bomb"])
def test_oversized_header_list(h: Harness, repeated: bool) -> None:
    peer = h.start([handshake(), expect_request("r"), _oversized_headers(repeated)])
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(HyperError):
        read_whole(conn, sid)
    h.finish()


# -- invalid frames -------------------------------------------------------------------------

FRAME_ERRORS = [ErrorCodes.PROTOCOL_ERROR, ErrorCodes.FRAME_SIZE_ERROR]


def _too_long_frame(session: PeerSession) -> None:
    """A DATA frame one byte longer than the client's max frame size
    (RFC 9113 section 4.2: a FRAME_SIZE_ERROR). h2 checks the length only
    once the whole frame is in, so the whole payload is sent."""
    payload = b"x" * (session.client_max_frame_size + 1)
    session.queue(raw_frame(TYPE_DATA, 0, session.stream("r"), payload))
    session.flush(tolerate_close=True)


INVALID_FRAMES: dict[str, Any] = {
    # RFC 9113 section 6.1: DATA on stream 0 is a connection PROTOCOL_ERROR.
    "data-on-stream-0": send_raw(raw_frame(TYPE_DATA, 0, 0, b"stray"), tolerate_close=True),
    # Section 6.2: HEADERS on stream 0 likewise.
    "headers-on-stream-0": send_raw(raw_frame(TYPE_HEADERS, 0x4, 0, b"\x88"), tolerate_close=True),
    # Section 6.7: a PING that is not 8 octets is a FRAME_SIZE_ERROR.
    "ping-of-7-bytes": send_raw(raw_frame(TYPE_PING, 0, 0, b"1234567"), tolerate_close=True),
    # Section 6.9: a zero increment on the connection is a PROTOCOL_ERROR.
    "window-update-zero": send_raw(
        raw_frame(TYPE_WINDOW_UPDATE, 0, 0, struct.pack(">L", 0)), tolerate_close=True
    ),
    "frame-too-long": call(_too_long_frame),
}


@pytest.mark.parametrize("kind", sorted(INVALID_FRAMES))
def test_invalid_frame(h: Harness, kind: str) -> None:
    peer = h.start(
        [handshake(), expect_request("r"), INVALID_FRAMES[kind], expect_goaway(FRAME_ERRORS)]
    )
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises((hyper.exceptions.ConnectionError, RemoteProtocolError)):
        read_whole(conn, sid)
    assert not conn.is_usable()
    with pytest.raises(HyperError):
        conn.request("GET", "/again")
    h.finish()
    assert [b.path for b in peer.blocks] == ["/"]


BAD_PREFACES = {
    # An HTTP/1.1 server answering an h2c prior-knowledge client. Read as a
    # frame header it claims 4.7 MB of an unknown type: only a client that
    # checks the first frame's header notices at once.
    "http11-answer": b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n",
    # A well-formed frame, but not SETTINGS.
    "ping-first": raw_frame(TYPE_PING, 0, 0, b"12345678"),
}


@pytest.mark.parametrize("preface", sorted(BAD_PREFACES))
def test_server_preface_not_settings(h: Harness, preface: str) -> None:
    """RFC 9113 section 3.4: the server's preface "MUST be the first frame
    the server sends" ... "Clients and servers MUST treat an invalid
    connection preface as a connection error of type PROTOCOL_ERROR"."""
    peer = h.start(
        [
            expect_preface(),
            send_raw(BAD_PREFACES[preface], tolerate_close=True),
            expect_goaway(FRAME_ERRORS),
        ],
        # Bounded waits that a loaded machine still meets: a client that does
        # not check the preface fails here after 10 s, not the suite's timeout.
        step_timeout=10,
    )
    conn = h.client(peer, timeout=10)
    with pytest.raises((hyper.exceptions.ConnectionError, RemoteProtocolError)):
        read_whole(conn, conn.request("GET", "/"))
    h.finish()


def test_http11_answer_then_close(h: Harness) -> None:
    peer = h.start(
        [
            expect_preface(),
            send_raw(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n", tolerate_close=True),
            close("fin"),
        ]
    )
    conn = h.client(peer)
    with pytest.raises(HyperError):
        read_whole(conn, conn.request("GET", "/"))
    h.finish()


def test_push_after_push_disabled_is_a_connection_error(h: Harness) -> None:
    """RFC 9113 section 6.6: with SETTINGS_ENABLE_PUSH 0 acknowledged, a
    PUSH_PROMISE is a connection error of type PROTOCOL_ERROR."""
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send_push_promise("r", 2, lambda s: push_headers(s.named["r"], "/unwanted")),
            expect_goaway([ErrorCodes.PROTOCOL_ERROR]),
        ]
    )
    conn = h.client(peer)
    with pytest.raises((hyper.exceptions.ConnectionError, RemoteProtocolError)):
        read_whole(conn, conn.request("GET", "/"))
    h.finish()


def test_response_on_a_stream_never_opened(h: Harness) -> None:
    """HEADERS on an even stream nobody promised: RFC 9113 section 5.1.1
    makes it a connection PROTOCOL_ERROR."""
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send_headers(4, [(":status", "200")], end_stream=True),
            expect_goaway([ErrorCodes.PROTOCOL_ERROR]),
        ]
    )
    conn = h.client(peer)
    with pytest.raises((hyper.exceptions.ConnectionError, RemoteProtocolError)):
        read_whole(conn, conn.request("GET", "/"))
    h.finish()


def test_client_close_sends_goaway(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x")])
    conn = h.client(peer)
    assert read_whole(conn, conn.request("GET", "/")) == b"x"
    h.finish()
    goaways = peer.frames_of(GoAwayFrame)
    assert goaways, "the client closed without GOAWAY (RFC 9113 section 6.8: it SHOULD send one)"
    assert goaways[-1].error_code == ErrorCodes.NO_ERROR
    assert not peer.frames_of(RstStreamFrame)
