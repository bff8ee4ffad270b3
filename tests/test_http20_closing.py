"""Closing HTTP/2 responses and connections in every state, and what a
closed connection refuses (scripted h2 peer).
"""

from __future__ import annotations

import threading

import pytest

from h2helpers import read_then_reset
from h2peer import (
    Harness,
    close,
    expect_request,
    handshake,
    respond,
    send,
    send_data,
    send_headers,
    wait_event,
)
from hyper.common.transport import wait_readable
from hyper.exceptions import (
    ConnectionClosed,
)

pytestmark = pytest.mark.timeout(60)


def test_closed_connection_refuses_everything(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("warm-up"), respond("warm-up", b"ok"),
                    expect_request("r")])
    conn = h.client(peer)
    assert conn.check_alive()  # not connected yet: nothing to check
    assert conn.get_response(conn.request("GET", "/warm-up")).read() == b"ok"
    sid = conn.putrequest("POST", "/")
    conn.endheaders(stream_id=sid)
    conn.close()
    conn.close()  # a second close is a no-op
    assert not conn.check_alive()
    with pytest.raises(ConnectionClosed, match="closed by the client"):
        conn.send(b"late", final=True, stream_id=sid)
    with pytest.raises(ConnectionClosed):
        conn.request("GET", "/")
    with pytest.raises(ConnectionClosed):
        conn.ping(b"12345678")
    with pytest.raises(ConnectionClosed):
        conn.get_response(sid)
    h.finish()


def test_stream_failed_before_the_upload_ended_is_dropped(h: Harness) -> None:
    """The server goes away while the request body is still open: asking
    for the response fails, and the stream is forgotten."""
    peer = h.start([handshake(), expect_request("r"), close("fin")])
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/")
    conn.endheaders(stream_id=sid)
    with pytest.raises(ConnectionClosed, match="server closed"):
        conn.get_response(sid)
    assert conn.is_idle()
    assert not conn.is_usable()
    h.finish()


def test_close_sends_goaway_even_if_the_server_reset_unnoticed(h: Harness) -> None:
    """close() tolerates a socket the server has already reset."""
    _, conn = read_then_reset(h)
    # Everything before the RST was read: the socket polls readable once
    # the RST is there.
    assert wait_readable(conn._sock, 10)
    conn.close()
    assert not conn.is_usable()
    h.finish()


def test_response_closed_after_the_server_reset_the_connection(h: Harness) -> None:
    """Closing a response sends RST_STREAM; if the socket is dead by then,
    the failure is recorded quietly (close() doesn't raise)."""
    reset = threading.Event()
    peer = h.start([
        handshake(),
        expect_request("r"),
        send(send_headers("r", [(":status", "200")]), send_data("r", b"partial")),
        wait_event(reset),
        close("rst"),
    ])
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.read(3) == b"par"
    reset.set()
    peer.join()
    assert wait_readable(conn._sock, 10)
    resp.close()
    assert resp.closed
    assert not conn.is_usable()
    with pytest.raises(ConnectionClosed):
        conn.request("GET", "/again")
    h.finish()
