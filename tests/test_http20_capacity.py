"""How many more streams an HTTP/2 connection takes: one answer
(ClientState.capacity), before the server's SETTINGS, after them, during
GOAWAY and after close; the shell's stream_capacity() is the same answer.
"""

from __future__ import annotations

import time

import pytest
from hyperframe.frame import GoAwayFrame, SettingsFrame

from h2peer import (
    Harness,
    expect_request,
    handshake,
    respond,
    send_goaway,
)
from hyper.exceptions import HyperError, StreamNotProcessedError
from hyper.http20.state import ClientState
from hyper.http20.window import FlowControlManager

pytestmark = pytest.mark.timeout(30)

REQUEST = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.test"),
           (b":path", b"/")]


def started() -> ClientState:
    state = ClientState(scheme="https", authority="example.test", port=443, enable_push=False,
                        window_manager_class=FlowControlManager)
    state.initiate()
    return state


def test_before_settings_one_stream_at_a_time() -> None:
    state = started()
    # RFC 9113 section 6.5.2: no limit is known yet; hyper opens one stream.
    assert state.capacity() == 1 and state.has_room()
    state.open_stream(None, REQUEST, True, 5.0)
    assert state.capacity() == 0 and not state.has_room()


def test_after_settings_the_servers_limit_less_open_streams() -> None:
    state = started()
    state.open_stream(None, REQUEST, True, 5.0)
    state.receive(SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 3})
                  .serialize())
    assert state.capacity() == 2 and state.has_room()
    # A request reserved with put_request() holds no slot until it is sent.
    sid = state.put_request("GET", "/", 5.0)
    assert state.capacity() == 2
    state.take_pending(sid)
    state.open_stream(sid, REQUEST, True, 5.0)
    state.open_stream(None, REQUEST, True, 5.0)
    assert state.capacity() == 0 and not state.has_room()
    # The server lowering its limit below what is open: none, not negative.
    state.receive(SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 1})
                  .serialize())
    assert state.capacity() == 0


def test_going_away_takes_no_stream() -> None:
    state = started()
    state.receive(SettingsFrame(0).serialize())
    assert state.capacity() > 100
    state.receive(GoAwayFrame(0, last_stream_id=0).serialize())
    assert state.capacity() == 0
    # has_room() lets the caller on, to meet the error that says why.
    assert state.has_room()
    with pytest.raises(StreamNotProcessedError):
        state.open_stream(None, REQUEST, True, 5.0)


def test_closed_or_failed_takes_no_stream() -> None:
    closed = started()
    closed.receive(SettingsFrame(0).serialize())
    closed.close(None, connected=True)
    assert closed.capacity() == 0 and closed.has_room()
    failed = started()
    failed.receive(b"HTTP/1.1 400 Bad Request\r\n\r\n")
    assert failed.capacity() == 0
    with pytest.raises(HyperError):
        failed.open_stream(None, REQUEST, True, 5.0)


def test_the_shell_gives_the_same_answer(h: Harness) -> None:
    peer = h.start([
        handshake({SettingsFrame.MAX_CONCURRENT_STREAMS: 5}),
        expect_request("a"), respond("a", b"ok"), send_goaway("a"),
    ])
    conn = h.client(peer)
    conn.connect()  # waits for the server's SETTINGS
    assert conn.stream_capacity() == conn._state.capacity() == 5
    sid = conn.request("GET", "/a")
    assert conn.stream_capacity() == 4
    assert conn.get_response(sid).read() == b"ok"
    # The GOAWAY follows the response: wait for it, bounded.
    deadline = time.monotonic() + 10
    while conn.check_alive() and time.monotonic() < deadline:
        pass
    assert conn.stream_capacity() == conn._state.capacity() == 0
    conn.close()
    assert conn.stream_capacity() == 0
    h.finish()
