"""RST_STREAM in every state of a stream (RFC 9113 sections 5.1 and 6.4).

A reset ends one stream: its reader gets :class:`StreamResetError` with the
code (``retry_safe`` only for REFUSED_STREAM, RFC 9113 section 8.7: "the
stream was closed prior to any processing"), and the connection carries on:
the next request on it works. A reset of an idle stream is a connection
error; a reset after the stream ended is ignored.
"""

from __future__ import annotations

import threading

import pytest

from faults.support import NEXT_BODY, bounded
from h2peer import (
    ErrorCodes,
    Harness,
    expect_goaway,
    expect_request,
    handshake,
    push_headers,
    respond,
    send,
    send_data,
    send_headers,
    send_push_promise,
    send_rst,
    wait_event,
)
from hyper.exceptions import RemoteProtocolError, StreamResetError

pytestmark = pytest.mark.timeout(60)

CODES = [ErrorCodes.NO_ERROR, ErrorCodes.PROTOCOL_ERROR, ErrorCodes.INTERNAL_ERROR,
         ErrorCodes.REFUSED_STREAM, ErrorCodes.CANCEL, ErrorCodes.ENHANCE_YOUR_CALM]


def _next_on_the_same_connection() -> list[object]:
    return [expect_request("next"), respond("next", NEXT_BODY)]


@pytest.mark.parametrize("code", CODES)
@pytest.mark.parametrize("state", ["before-headers", "after-headers", "mid-body",
                                   "after-informational"])
def test_reset_of_an_open_stream_fails_only_that_stream(
    h: Harness, state: str, code: int,
) -> None:
    before = {
        "before-headers": [],
        "after-informational": [send_headers("r", [(":status", "103")])],
        "after-headers": [send_headers("r", [(":status", "200")])],
        "mid-body": [send_headers("r", [(":status", "200")]), send_data("r", b"part")],
    }[state]
    peer = h.start([handshake(), expect_request("r"), send(*before, send_rst("r", code)),
                    *_next_on_the_same_connection()])
    conn = h.client(peer, timeout=2)
    sid = conn.request("GET", "/")
    with bounded(), pytest.raises(StreamResetError) as info:
        conn.get_response(sid).read()
    assert (info.value.stream_id, info.value.error_code) == (sid, code)
    assert info.value.retry_safe is (code == ErrorCodes.REFUSED_STREAM)
    assert conn.is_usable()
    assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()


def test_reset_after_the_stream_ended_is_ignored(h: Harness) -> None:
    """RFC 9113 section 5.1: a stream closed by END_STREAM may still see a
    RST_STREAM the peer sent before it knew; the answer already received stands."""
    peer = h.start([handshake(), expect_request("r"),
                    send(respond("r", b"complete"), send_rst("r", ErrorCodes.INTERNAL_ERROR)),
                    *_next_on_the_same_connection()])
    conn = h.client(peer, timeout=2)
    sid = conn.request("GET", "/")
    with bounded():
        assert conn.get_response(sid).read() == b"complete"
        assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()


def test_reset_while_the_request_body_is_blocked_on_flow_control(h: Harness) -> None:
    # The client has 65,535 bytes of window and 200,000 to send: it waits for
    # WINDOW_UPDATE when the reset comes.
    peer = h.start([handshake(), expect_request("r"),
                    send_rst("r", ErrorCodes.INTERNAL_ERROR),
                    *_next_on_the_same_connection()])
    conn = h.client(peer, timeout=2)
    with bounded(), pytest.raises(StreamResetError) as info:
        conn.get_response(conn.request("POST", "/upload", body=b"x" * 200_000))
    assert info.value.error_code == ErrorCodes.INTERNAL_ERROR
    assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()


@pytest.mark.xfail(strict=True, reason="not fixed yet (HTTP/2 state): hyper ignores RST_STREAM "
                   "on an idle stream and waits for its read timeout")
def test_reset_of_an_idle_stream_is_a_connection_error(h: Harness) -> None:
    """RFC 9113 section 6.4: "If a RST_STREAM frame identifying an idle
    stream is received, the recipient MUST treat this as a connection error
    of type PROTOCOL_ERROR"."""
    peer = h.start([handshake(), expect_request("r"), send_rst(5, ErrorCodes.CANCEL),
                    expect_goaway([ErrorCodes.PROTOCOL_ERROR])])
    conn = h.client(peer, timeout=2)
    sid = conn.request("GET", "/")
    with bounded(), pytest.raises(RemoteProtocolError):
        conn.get_response(sid).read()
    assert not conn.is_usable()
    h.finish()
    fresh = h.start([handshake(), expect_request("next"), respond("next", NEXT_BODY)])
    conn = h.client(fresh, timeout=2)
    assert conn.get_response(conn.request("GET", "/")).read() == NEXT_BODY
    h.finish()


@pytest.mark.parametrize("code", [ErrorCodes.CANCEL, ErrorCodes.INTERNAL_ERROR])
def test_reset_of_a_reserved_push_stream(h: Harness, code: int) -> None:
    """A promised stream (reserved, remote) reset by the server: the push
    fails alone; the main response and the connection are fine."""
    read = threading.Event()
    peer = h.start([
        handshake(), expect_request("r"),
        send(send_push_promise("r", 2, lambda s: push_headers(s.named["r"], "/pushed")),
             respond("r", b"main")),
        wait_event(read),
        send_rst(2, code),
        *_next_on_the_same_connection(),
    ])
    conn = h.client(peer, enable_push=True, timeout=2)
    sid = conn.request("GET", "/")
    assert conn.get_response(sid).read() == b"main"
    (push,) = list(conn.get_pushes(sid))
    read.set()
    with bounded(), pytest.raises(StreamResetError) as info:
        push.get_response().read()
    assert (info.value.stream_id, info.value.error_code) == (2, code)
    assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()
