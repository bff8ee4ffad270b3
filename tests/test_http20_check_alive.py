"""HTTP20Connection.check_alive: it answers pings, notices GOAWAY and resets,
and leaves the socket to a thread already reading it (scripted h2 peer).
"""

from __future__ import annotations

import threading

import pytest
from hyperframe.frame import PingFrame

from h2helpers import Worker, read_then_reset, signal, wait_for
from h2peer import (
    Harness,
    expect_frame,
    expect_request,
    handshake,
    respond,
    send_goaway,
    send_ping,
    wait_event,
)
from hyper.common.transport import wait_readable

pytestmark = pytest.mark.timeout(60)


def test_check_alive_answers_pings_and_notices_goaway(h: Harness) -> None:
    ping_now, goaway_now = threading.Event(), threading.Event()
    acked = threading.Event()
    peer = h.start([
        handshake(),
        expect_request("r"),
        respond("r", b"x"),
        wait_event(ping_now),
        send_ping(b"are-you?"),
        expect_frame(PingFrame, 0, lambda f: "ACK" in f.flags and f.opaque_data == b"are-you?"),
        signal(acked),
        wait_event(goaway_now),
        send_goaway("r"),
    ], step_timeout=15)
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    ping_now.set()
    # Each call reads only what is there; the PING is answered by one of them.
    assert wait_for(lambda: not conn.check_alive() or acked.is_set())
    assert acked.is_set() and conn.is_usable()
    goaway_now.set()
    assert wait_for(lambda: not conn.check_alive())
    assert conn.stream_capacity() == 0
    h.finish()


def test_check_alive_on_a_reset_connection(h: Harness) -> None:
    _, conn = read_then_reset(h)
    assert wait_readable(conn._sock, 10)
    assert not conn.check_alive()
    assert not conn.is_usable()
    h.finish()


def test_check_alive_leaves_the_socket_to_a_reading_thread(hw: Harness) -> None:
    answer = threading.Event()
    peer = hw.start([handshake(), expect_request("r"), wait_event(answer),
                     respond("r", b"late")], step_timeout=15)
    conn = hw.client(peer, timeout=15)
    sid = conn.request("GET", "/")
    reader = Worker(lambda: conn.get_response(sid).read())
    reader.start()
    assert wait_for(lambda: conn._reading)
    assert conn.check_alive()  # does not wait for (or steal) the reader's data
    answer.set()
    assert reader.finish() == b"late"
    assert reader.error is None
    hw.finish()
