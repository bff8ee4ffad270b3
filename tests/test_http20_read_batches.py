"""What one read of an HTTP/2 connection takes: a read goes on reading what
is already there (up to a bound), and a close or a reset found that way is
reported by the next read, after the bytes before it (scripted h2 peer).
"""

from __future__ import annotations

import threading

import pytest

from h2helpers import wait_for
from h2peer import Harness, call, close, expect_request, handshake, respond, wait_event
from hyper.common.transport import wait_readable
from hyper.exceptions import ConnectionClosed

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_a_response_before_the_close_is_read_whole(hw: Harness, how: str) -> None:
    """The whole response and the close wait in the socket before the first
    read: the reader goes on, 9 bytes at a time, to the end of the bytes and
    meets the close (EOF, or the reset's error), which the next read
    reports."""
    sent, closed = threading.Event(), threading.Event()
    peer = hw.start([handshake(), expect_request("r"), wait_event(sent),
                     respond("r", b"x" * 500), close(how), call(lambda _: closed.set())])
    conn = hw.client(peer, network_buffer_size=9)
    sid = conn.request("GET", "/")
    sent.set()
    assert closed.wait(10)
    assert wait_readable(conn._sock, 10)
    assert conn.get_response(sid).read() == b"x" * 500
    assert wait_for(lambda: not conn.check_alive())
    with pytest.raises(ConnectionClosed):
        conn.request("GET", "/again")
    hw.finish()

