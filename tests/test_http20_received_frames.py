"""What HTTP20Connection does with the frames it receives: unknown error
codes, malformed statuses, frames on streams the client gave up, header
blocks that do not decode; and its debug log of the frames it sends
(scripted h2 peer).
"""

from __future__ import annotations

import logging
import threading

import pytest

from h2peer import (
    TYPE_HEADERS,
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    expect_goaway,
    expect_request,
    expect_rst,
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
    wait_event,
)
from hyper.exceptions import (
    HPACKDecodingError,
    RemoteProtocolError,
    StreamNotProcessedError,
    StreamResetError,
)

pytestmark = pytest.mark.timeout(60)


def test_unknown_error_code_is_shown_in_hex(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), send_rst("r", 0xDEAD)])
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(StreamResetError, match="0xdead") as info:
        conn.get_response(sid)
    assert info.value.error_code == 0xDEAD
    assert not info.value.retry_safe
    h.finish()


@pytest.mark.parametrize("status", ["abc", "2000", "20", ""])
@pytest.mark.parametrize("with_body", [False, True])
def test_malformed_status_is_refused_and_the_stream_dropped(
    h: Harness, status: str, with_body: bool
) -> None:
    """RFC 9110 section 15: a status code is three digits."""
    bad = ([send_headers("bad", [(":status", status)]), send_data("bad", b"body")]
           if with_body else [send_headers("bad", [(":status", status)], end_stream=True)])
    script = [handshake(), expect_request("bad"), send(*bad)]
    if with_body:
        # The response is still arriving: the client stops it.
        script.append(expect_rst("bad", [ErrorCodes.CANCEL]))
    script += [expect_request("good"), respond("good", b"fine")]
    peer = h.start(script)
    conn = h.client(peer)
    sid = conn.request("GET", "/bad")
    with pytest.raises(RemoteProtocolError, match="Invalid :status") as info:
        conn.get_response(sid)
    assert info.value.stream_id == sid
    assert conn.is_idle()
    assert conn.get_response(conn.request("GET", "/good")).read() == b"fine"
    h.finish()


def test_frames_on_streams_the_client_gave_up_are_ignored(h: Harness) -> None:
    """After GOAWAY, streams above last_stream_id fail at once (RFC 9113
    section 6.8). A server that answers them anyway, resets them or
    promises pushes on them changes nothing for the client."""
    late = threading.Event()

    def promise_on_b(session: PeerSession) -> list[tuple[str, str]]:
        return push_headers(session.named["a"], "/pushed-late")

    peer = h.start([
        handshake(),
        expect_request("a"),
        expect_request("b"),
        expect_request("c"),
        send_goaway("a"),
        wait_event(late),
        send(
            send_headers("b", [(":status", "200")]),
            send_push_promise("b", 2, promise_on_b),
            send_data("b", b"ignored"),
            send_headers("b", [("x-trailer", "ignored")], end_stream=True),
            send_rst("c", ErrorCodes.INTERNAL_ERROR),
        ),
        # The promise's parent is gone: the pushed stream is cancelled.
        expect_rst(2, [ErrorCodes.CANCEL]),
        respond("a", b"a is answered"),
    ])
    conn = h.client(peer, enable_push=True)
    a, b, c = (conn.request("GET", f"/{name}") for name in "abc")
    for sid in (b, c):
        with pytest.raises(StreamNotProcessedError):
            conn.get_response(sid)
    late.set()
    assert conn.get_response(a).read() == b"a is answered"
    assert list(conn.get_pushes()) == []
    assert conn.is_idle()
    h.finish()


def test_undecodable_header_block_is_an_hpack_error(h: Harness) -> None:
    """Index 63 with an empty dynamic table (RFC 7541 section 2.3.3: "an
    index greater than the sum of the lengths of both tables ... MUST be
    treated as a decoding error")."""
    peer = h.start([
        handshake(),
        expect_request("r"),
        call(lambda s: send_raw(raw_frame(TYPE_HEADERS, 0x5, s.stream("r"), b"\xbf"),
                                tolerate_close=True)(s)),
        expect_goaway([ErrorCodes.PROTOCOL_ERROR, ErrorCodes.COMPRESSION_ERROR]),
    ])
    conn = h.client(peer)
    sid = conn.request("GET", "/")
    with pytest.raises(HPACKDecodingError, match="could not be decoded"):
        conn.get_response(sid)
    assert not conn.is_usable()
    h.finish()


def test_debug_log_shows_every_frame_sent(h: Harness, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="hyper")
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x")])
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    h.finish()
    sent = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Sent")]
    # The first write: the preface, the client's SETTINGS and its
    # connection WINDOW_UPDATE.
    assert sent[0] == "Sent the connection preface"
    assert sent[1].startswith("Sent frame: SettingsFrame(stream_id=0, flags=[])")
    assert sent[2].startswith("Sent frame: WindowUpdateFrame(stream_id=0")
    # Received DATA frames show their length, not their payload.
    received = [r.getMessage() for r in caplog.records
                if r.getMessage().startswith("Received frame: DataFrame")]
    assert received == ["Received frame: DataFrame(stream_id=1, flags=['END_STREAM']): "
                        "<1 bytes of data>"]
