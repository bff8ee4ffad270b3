"""HTTP/2 flow control of uploads when the server lowers its windows
(RFC 9113 section 6.9.2): a negative send window means "wait for
WINDOW_UPDATE", never "the stream is gone" (scripted peer and ClientState).
"""

from __future__ import annotations

import hashlib

import pytest
from hyperframe.frame import DataFrame, PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame

from h2peer import (
    Harness,
    PeerError,
    PeerSession,
    call,
    expect_request,
    handshake,
    respond,
    send_settings,
    send_window_update,
)
from hyper.http20.state import ClientState
from hyper.http20.window import FlowControlManager

pytestmark = pytest.mark.timeout(30)

BODY = bytes(range(256)) * 40  # 10,240 bytes
FIRST = 1000  # the stream window the server starts with
LOWERED = 300  # what it lowers it to once FIRST bytes came: the window is -700


def _lower_window_mid_upload(session: PeerSession) -> None:
    """Take the first window's worth, lower INITIAL_WINDOW_SIZE so that the
    client's window is negative, then give credit back in two steps: the
    first only brings it to zero. Every DATA frame is checked against the
    window the client has at that moment."""
    stream_id = session.stream("up")
    window = FIRST
    digest = hashlib.sha256()

    def take(what: str) -> DataFrame:
        nonlocal window
        frame = session.expect_type(DataFrame, what, lambda f: f.stream_id == stream_id)
        if frame.flow_controlled_length > window:
            raise PeerError(f"the client sent {frame.flow_controlled_length} bytes "
                            f"with a stream window of {window}")
        window -= frame.flow_controlled_length
        digest.update(frame.data)
        return frame

    received = 0
    while received < FIRST:
        received += len(take("the first window's worth").data)
    send_settings({SettingsFrame.INITIAL_WINDOW_SIZE: LOWERED})(session)
    window += LOWERED - FIRST
    session.flush()
    session.expect_type(SettingsFrame, "the SETTINGS ACK", lambda f: "ACK" in f.flags)
    assert window == LOWERED - FIRST < 0
    # Credit that only brings the window to zero, then a PING: once its ACK
    # came, the client has applied the WINDOW_UPDATE and still must not send.
    send_window_update(stream_id, -window)(session)
    window = 0
    session.queue_frame(PingFrame(0, b"zerowndw"))
    session.flush()
    session.expect_type(PingFrame, "the PING ACK", lambda f: "ACK" in f.flags)
    send_window_update(stream_id, len(BODY))(session)
    window += len(BODY)
    session.flush()
    while True:
        frame = take("the rest of the body")
        received += len(frame.data)
        if "END_STREAM" in frame.flags:
            break
    respond(stream_id, digest.hexdigest().encode())(session)


def test_negative_window_waits_for_credit_and_sends_the_whole_body(h: Harness) -> None:
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: FIRST}
    peer = h.start([
        handshake(settings), expect_request("warm"), respond("warm", b"ok"),
        expect_request("up"), call(_lower_window_mid_upload),
        expect_request("after"), respond("after", b"still fine"),
    ])
    conn = h.client(peer, timeout=10)
    # (One exchange first, so the client applied the server's SETTINGS.)
    assert conn.get_response(conn.request("GET", "/warm")).read() == b"ok"
    sid = conn.request("POST", "/up", body=BODY)
    assert conn.get_response(sid).read() == hashlib.sha256(BODY).hexdigest().encode()
    assert conn.get_response(conn.request("GET", "/after")).read() == b"still fine"
    h.finish()
    frames = peer.frames_of(DataFrame, sid)
    assert b"".join(f.data for f in frames) == BODY
    assert "END_STREAM" in frames[-1].flags
    assert peer.frames_of(RstStreamFrame) == []


# -- the same on ClientState, without sockets -----------------------------------------

REQUEST = [(b":method", b"POST"), (b":scheme", b"https"), (b":authority", b"example.test"),
           (b":path", b"/")]


def uploading_state(initial_window: int) -> tuple[ClientState, int]:
    state = ClientState(scheme="https", authority="example.test", port=443,
                        enable_push=False, window_manager_class=FlowControlManager)
    state.initiate()
    state.receive(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE:
                                             initial_window}).serialize())
    sid = state.open_stream(None, REQUEST, False, 5.0)
    state.take_outbound()
    return state, sid


def test_state_negative_window_is_zero_room_not_a_gone_stream() -> None:
    state, sid = uploading_state(100)
    body = memoryview(b"x" * 250)
    assert state.send_data(sid, body, True) == 100
    state.receive(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 40}).serialize())
    assert state.h2.local_flow_control_window(sid) == -60
    assert state.send_window(sid) == 0
    # Nothing may be sent, and the stream stays open: no RST_STREAM queued.
    assert state.send_data(sid, body[100:], True) == 0
    assert not state.streams[sid].request_complete
    state.receive(WindowUpdateFrame(sid, window_increment=60).serialize())
    assert state.send_window(sid) == 0
    state.receive(WindowUpdateFrame(sid, window_increment=500).serialize())
    assert state.send_window(sid) == 500
    assert state.send_data(sid, body[100:], True) == 150
    assert state.streams[sid].request_complete
    sent = state.take_outbound()
    assert not any(isinstance(f, RstStreamFrame) for f in _frames(sent))


def test_state_resetting_a_stream_twice_is_a_no_op() -> None:
    """A stream abandoned twice (its response closed while its upload was
    still open): no h2 exception, one RST_STREAM."""
    state, sid = uploading_state(100)
    stream = state.claim(sid)
    state.cancel(stream, 8)
    state.cancel(stream, 8)
    state.abort_upload(sid)
    resets = [f for f in _frames(state.take_outbound()) if isinstance(f, RstStreamFrame)]
    assert [(f.stream_id, f.error_code) for f in resets] == [(sid, 8)]


def _frames(data: bytes) -> list[object]:
    from hyperframe.frame import Frame

    out = []
    view = memoryview(data)
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9:9 + length])
        out.append(frame)
        view = view[9 + length:]
    return out
