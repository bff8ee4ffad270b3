"""A write that fails (the server reset the connection) does not throw away
what the server sent before: complete responses are delivered, and the
GOAWAY it sent decides which requests were not processed (safe to retry)."""

from __future__ import annotations

import fcntl
import struct
import termios
import threading
import time
from collections.abc import Iterator

import pytest

from h2peer import (
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    close,
    expect_request,
    handshake,
    respond,
    send,
    send_goaway,
)
from hyper import HTTPConnection
from hyper.exceptions import ConnectionClosed, StreamNotProcessedError

pytestmark = pytest.mark.timeout(30)


def _delivered(session: PeerSession) -> None:
    """Wait until the client's kernel has everything sent so far: a reset
    drops what is still queued (small pieces may wait, corked)."""
    deadline = time.monotonic() + 5
    while struct.unpack("i", fcntl.ioctl(session.sock, termios.TIOCOUTQ, b"\0" * 4))[0]:
        assert time.monotonic() < deadline, "the client never acknowledged the data"
        time.sleep(0.005)


def _reset_after(event: threading.Event) -> list[object]:
    """The peer answers /a, sends GOAWAY(last stream /a) and resets the
    connection (its receive buffer may hold /b); then tells the test."""
    return [
        handshake(),
        expect_request("a"),
        expect_request("b"),
        send(respond("a", b"the answer"), send_goaway("a", ErrorCodes.NO_ERROR)),
        call(_delivered),
        close("rst"),
        call(lambda _s: event.set()),
    ]


def test_failed_write_reads_responses_and_goaway_first(h: Harness) -> None:
    reset = threading.Event()
    peer = h.start(_reset_after(reset))
    conn = h.client(peer)
    first = conn.request("GET", "/a")
    second = conn.request("GET", "/b")
    assert reset.wait(10)
    # Nothing has read the socket yet: this write meets the reset.
    with pytest.raises(StreamNotProcessedError) as info:
        conn.request("GET", "/c")
    assert info.value.retry_safe
    assert conn.get_response(first).read() == b"the answer"
    with pytest.raises(StreamNotProcessedError) as unprocessed:
        conn.get_response(second)
    assert unprocessed.value.retry_safe
    assert not conn.is_usable()
    h.finish()


def test_failed_write_without_goaway_is_not_retry_safe(h: Harness) -> None:
    reset = threading.Event()
    peer = h.start([
        handshake(),
        expect_request("a"),
        close("rst"),
        call(lambda _s: reset.set()),
    ])
    conn = h.client(peer)
    first = conn.request("GET", "/a")
    assert reset.wait(10)
    with pytest.raises(ConnectionClosed) as info:
        conn.request("GET", "/b")
    assert not info.value.retry_safe
    with pytest.raises(ConnectionClosed) as lost:
        conn.get_response(first)
    assert not lost.value.retry_safe
    h.finish()


def test_upload_meeting_a_reset_returns_the_early_answer(h: Harness) -> None:
    """RFC 9113 section 8.1: the server answered, then stopped the upload by
    closing; the answer is what get_response() returns."""
    reset = threading.Event()

    def answered(session: PeerSession) -> None:
        reset.set()

    peer = h.start([
        handshake(),
        expect_request("up"),
        respond("up", b"too large", status=413),
        call(_delivered),
        close("rst"),
        call(answered),
    ])
    conn = h.client(peer)
    conn.putrequest("POST", "/upload")
    conn.endheaders()
    assert reset.wait(10)
    conn.send(b"x" * 100_000, final=True)
    response = conn.get_response()
    assert response.status == 413
    assert response.read() == b"too large"
    h.finish()


def test_negotiating_connection_sends_unprocessed_requests_again(h: Harness) -> None:
    """Through HTTPConnection the requests the GOAWAY left unprocessed go out
    again, on a new connection: one whose write met the reset at once, the
    other when its response is asked for."""
    reset = threading.Event()
    peer = h.start(_reset_after(reset))
    second_peer = h.start([handshake(), expect_request("c"), expect_request("b"),
                           send(respond("c", b"third"), respond("b", b"again"))])
    conn = h.track(HTTPConnection("127.0.0.1", peer.port, h2c="prior-knowledge", timeout=5))
    first = conn.request("GET", "/a")
    second = conn.request("GET", "/b")
    assert reset.wait(10)
    # The next connection goes to the second peer (same host, its port).
    conn.port = second_peer.port
    third = conn.request("GET", "/c")
    assert third == 2 ** 31 + 1
    assert conn.get_response(first).read() == b"the answer"
    response = conn.get_response(second)
    assert response.read() == b"again"
    assert response.stream_id == 3
    assert conn.get_response(third).read() == b"third"
    h.finish()


def test_request_body_meeting_a_reset_returns_the_early_answer(h: Harness) -> None:
    """The same through request(): the body's next piece meets the reset."""
    reset = threading.Event()
    peer = h.start([
        handshake(),
        expect_request("up"),
        respond("up", b"no", status=413),
        call(_delivered),
        close("rst"),
        call(lambda _s: reset.set()),
    ])
    conn = h.client(peer)

    def body() -> Iterator[bytes]:
        yield b"first piece"
        assert reset.wait(10)
        yield b"second piece"

    stream_id = conn.request("POST", "/upload", body=body())
    response = conn.get_response(stream_id)
    assert (response.status, response.read()) == (413, b"no")
    h.finish()


def test_what_is_read_after_a_failed_write_is_bounded(h: Harness,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """At most _SALVAGE_LIMIT bytes: here one 9-byte read, which ends before
    the GOAWAY, so nothing is known to be unprocessed."""
    monkeypatch.setattr("hyper.http20.connection._SALVAGE_LIMIT", 1)
    reset = threading.Event()
    peer = h.start(_reset_after(reset))
    conn = h.client(peer, network_buffer_size=9)
    conn.request("GET", "/a")
    conn.request("GET", "/b")
    assert reset.wait(10)
    with pytest.raises(ConnectionClosed) as info:
        conn.request("GET", "/c")
    assert not info.value.retry_safe
    h.finish()
