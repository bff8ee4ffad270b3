"""Flow-control faults (RFC 9113 sections 5.2 and 6.9).

* A server that sends more than the window the client gave: "A receiver MAY
  respond with a stream error or connection error of type
  FLOW_CONTROL_ERROR" (6.9); hyper makes it a connection error.
* A WINDOW_UPDATE that takes a window past 2^31-1: FLOW_CONTROL_ERROR (6.9.1).
* SETTINGS_INITIAL_WINDOW_SIZE lowered mid-upload: "the flow-control window
  can become negative ... the sender MUST NOT send new flow-controlled
  frames until it receives WINDOW_UPDATE frames that cause the flow-control
  window to become positive" (6.9.2).
"""

from __future__ import annotations

import pytest
from hyperframe.frame import DataFrame, PingFrame, SettingsFrame

import hyper.exceptions
from faults.support import NEXT_BODY, TIMEOUT, bounded, fails_with
from h2peer import (
    DEFAULT_WINDOW,
    ErrorCodes,
    Harness,
    PeerError,
    PeerSession,
    call,
    expect_goaway,
    expect_request,
    handshake,
    respond,
    send,
    send_data,
    send_headers,
    send_ping,
    send_settings,
    send_window_update,
)
from hyper.http20 import h2glue

pytestmark = pytest.mark.timeout(60)


def _fresh_connection_works(h: Harness) -> None:
    fresh = h.start([handshake(), expect_request("r"), respond("r", NEXT_BODY)])
    conn = h.client(fresh, timeout=TIMEOUT)
    assert conn.get_response(conn.request("GET", "/")).read() == NEXT_BODY


def test_a_server_that_overruns_the_stream_window(
    h: Harness, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The window the client advertises, made small enough to overrun in a
    # few frames (the default is 16 MiB).
    monkeypatch.setattr(h2glue, "DEFAULT_STREAM_WINDOW", DEFAULT_WINDOW)
    frames = [send_data("r", bytes(16384)) for _ in range(DEFAULT_WINDOW // 16384 + 1)]
    peer = h.start([handshake(), expect_request("r"),
                    send(send_headers("r", [(":status", "200")]), *frames),
                    expect_goaway([ErrorCodes.FLOW_CONTROL_ERROR])])
    conn = h.client(peer, timeout=TIMEOUT)
    with fails_with(hyper.exceptions.ConnectionError) as info:
        conn.get_response(conn.request("GET", "/")).read()
    assert info.value.error_code == ErrorCodes.FLOW_CONTROL_ERROR
    _fresh_connection_works(h)
    h.finish()


def test_a_window_update_past_the_largest_window(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), send_window_update(0, 2**31 - 1),
                    expect_goaway([ErrorCodes.FLOW_CONTROL_ERROR])])
    conn = h.client(peer, timeout=TIMEOUT)
    with fails_with(hyper.exceptions.ConnectionError) as info:
        conn.get_response(conn.request("GET", "/")).read()
    assert info.value.error_code == ErrorCodes.FLOW_CONTROL_ERROR
    _fresh_connection_works(h)
    h.finish()


UPLOAD = 150_000
#: The stream window the handshake gives, larger than the connection's
#: 65,535, so the client stops on the connection window with stream credit left.
STREAM_WINDOW = 100_000
SHRUNK_WINDOW = 1000


def _negative_window_upload(session: PeerSession) -> None:
    """Take the first 65,535 bytes (the whole connection window; the stream
    has 34,465 left), lower the initial stream window by 99,000 so that the
    stream's window is -64,535, then open the connection window wide and
    prove (a PING round trip) that nothing came; then give stream credit
    step by step, checking every frame against the window."""
    stream = session.stream("r")

    def data() -> DataFrame:
        return session.expect_type(DataFrame, "upload DATA", lambda f: f.stream_id == stream)

    received = 0
    while received < DEFAULT_WINDOW:
        received += len(data().data)
    send_settings({SettingsFrame.INITIAL_WINDOW_SIZE: SHRUNK_WINDOW})(session)
    session.flush()
    session.expect_type(SettingsFrame, "the SETTINGS ACK", lambda f: "ACK" in f.flags)
    window = SHRUNK_WINDOW - received
    send_window_update(0, 1 << 20)(session)
    send_ping(b"barrier!")(session)
    session.flush()
    session.expect_type(PingFrame, "the PING ACK", lambda f: "ACK" in f.flags)
    early = [f for f in session.pending if isinstance(f, DataFrame) and f.stream_id == stream]
    if early:
        raise PeerError(f"the client sent {early!r} with a stream window of {window}")
    while True:
        increment = 20_000 if window > 0 else 20_000 - window
        send_window_update(stream, increment)(session)
        session.flush()
        window += increment
        while window > 0:
            frame = data()
            if len(frame.data) > window:
                raise PeerError(f"DATA of {len(frame.data)} with a window of {window}")
            window -= len(frame.data)
            received += len(frame.data)
            if "END_STREAM" in frame.flags:
                respond(stream, str(received).encode())(session)
                return


def test_a_window_made_negative_mid_upload_is_waited_out(h: Harness) -> None:
    peer = h.start([handshake({SettingsFrame.INITIAL_WINDOW_SIZE: STREAM_WINDOW}),
                    expect_request("warm-up"), respond("warm-up", b"ok"),
                    expect_request("r"), call(_negative_window_upload)])
    conn = h.client(peer, timeout=TIMEOUT)
    # One exchange first, so that the client has applied our SETTINGS.
    assert conn.get_response(conn.request("GET", "/warm-up")).read() == b"ok"
    with bounded():
        response = conn.get_response(conn.request("POST", "/", body=bytes(UPLOAD)))
    assert response.read() == str(UPLOAD).encode()
    h.finish()
