"""One HTTP20Connection used by several threads: a waiter while another
thread reads, uploads whose response was read or closed meanwhile, and
uploads stuck because the server stopped reading (scripted h2 peer).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from hyperframe.frame import DataFrame, SettingsFrame

from h2helpers import Worker, data_of, signal, wait_for
from h2peer import (
    ErrorCodes,
    Harness,
    close,
    expect_frame,
    expect_request,
    expect_rst,
    handshake,
    respond,
    send_headers,
    send_window_update,
    wait_event,
)
from hyper.exceptions import (
    ConnectionClosed,
    ReadTimeout,
    WriteTimeout,
)

pytestmark = pytest.mark.timeout(60)


# Flow control out of the way: the client may send as much as it likes.
MAX_WINDOW = 2**31 - 1
OPEN_WINDOWS = {SettingsFrame.INITIAL_WINDOW_SIZE: MAX_WINDOW,
                SettingsFrame.MAX_FRAME_SIZE: 1 << 20}
OPEN_CONNECTION_WINDOW = MAX_WINDOW - 65535


# More than the kernel buffers of both ends hold (net.ipv4.tcp_wmem and
# tcp_rmem allow at most 4 MiB and 32 MiB here), so a sendall blocks when the
# peer stops reading.
STUCK_UPLOAD = b"u" * (64 << 20)


def _stuck_upload_script(blocked: threading.Event, *, then: tuple[Any, ...] = (),
                         after: tuple[Any, ...] = ()) -> list[Any]:
    """The peer reads a GET and the start of an upload, then stops reading
    (``then`` and ``after`` run before and after it signals ``blocked``)."""
    return [
        handshake(OPEN_WINDOWS, connection_window=OPEN_CONNECTION_WINDOW),
        expect_request("get"),
        expect_request("upload"),
        expect_frame(DataFrame, "upload"),
        *then,
        signal(blocked),
        *after,
    ]


def test_second_waiter_times_out_while_another_thread_reads(hw: Harness) -> None:
    answer = threading.Event()
    peer = hw.start([
        handshake(),
        expect_request("slow"),
        expect_request("impatient"),
        expect_rst("impatient", [ErrorCodes.CANCEL]),
        wait_event(answer),
        respond("slow", b"slow answer"),
    ], step_timeout=15)
    conn = hw.client(peer, timeout=15)
    slow = conn.request("GET", "/slow")
    impatient = conn.request("GET", "/impatient", timeout=(5, 0.3))
    reader = Worker(lambda: conn.get_response(slow).read())
    reader.start()
    assert wait_for(lambda: conn._reading)
    with pytest.raises(ReadTimeout, match=f"stream {impatient}"):
        conn.get_response(impatient)
    answer.set()
    assert reader.finish() == b"slow answer"
    hw.finish()


def test_upload_stops_when_its_response_was_read_meanwhile(hw: Harness) -> None:
    """RFC 9113 section 8.1: a server may answer before the request is
    complete. Once another thread has read the whole response, the client
    resets the stream (CANCEL): the rest of the upload is not sent, and the
    stream no longer counts against the server's stream limit."""
    more_window = threading.Event()
    peer = hw.start([
        handshake({SettingsFrame.INITIAL_WINDOW_SIZE: 100,
                   SettingsFrame.MAX_CONCURRENT_STREAMS: 1}),
        expect_request("u"),
        expect_frame(DataFrame, "u"),
        respond("u", b"enough"),
        expect_rst("u", [ErrorCodes.CANCEL]),
        wait_event(more_window),
        # Sent as if in flight when the reset arrived; it wakes the uploader.
        send_window_update("u", 10_000),
        expect_request("next"),
        respond("next", b"next"),
    ], step_timeout=15)
    conn = hw.client(peer, timeout=15)
    sid = conn.putrequest("POST", "/upload")
    conn.endheaders(stream_id=sid)
    uploader = Worker(lambda: conn.send(b"x" * 1000, final=True, stream_id=sid))
    uploader.start()
    assert conn.get_response(sid).read() == b"enough"
    # The uploader stops as soon as it sees the complete response (whichever
    # thread read it); whether it has run yet is up to the scheduler, so
    # nothing is asserted about it here. The WINDOW_UPDATE the peer sends
    # next must not revive it.
    more_window.set()
    uploader.finish()
    assert uploader.error is None
    assert conn.is_idle()
    assert conn.stream_capacity() == 1
    assert conn.get_response(conn.request("GET", "/next", timeout=(5, 5))).read() == b"next"
    hw.finish()
    assert sum(len(f.data) for f in data_of(peer, sid)) == 100


def test_upload_stops_when_another_thread_closes_the_response(hw: Harness) -> None:
    """The uploading thread is the one reading the socket (it waits for
    flow-control window) when another thread closes the response. No frame
    arrives after that, and there is no timeout: the uploader must still
    notice that its stream is gone, stop and return."""
    peer = hw.start([
        handshake({SettingsFrame.INITIAL_WINDOW_SIZE: 100}),
        expect_request("u"),
        expect_frame(DataFrame, "u"),
        send_headers("u", [(":status", "200")]),
        expect_rst("u", [ErrorCodes.CANCEL]),
    ], step_timeout=15)
    conn = hw.client(peer, timeout=None)
    sid = conn.putrequest("POST", "/upload")
    conn.endheaders(stream_id=sid)
    uploader = Worker(lambda: conn.send(b"x" * 1000, final=True, stream_id=sid))
    uploader.start()
    # Let the uploader take the reader role before this thread waits too.
    for _ in range(1000):
        if conn._reading:
            break
        threading.Event().wait(0.01)
    assert conn._reading
    response = conn.get_response(sid)
    assert response.status == 200
    response.close()
    uploader.finish()
    assert uploader.error is None
    hw.finish()
    assert sum(len(f.data) for f in data_of(peer, sid)) == 100


def test_upload_to_a_server_that_stopped_reading_times_out(hw: Harness) -> None:
    release = threading.Event()
    blocked = threading.Event()
    peer = hw.start(
        _stuck_upload_script(blocked, after=(wait_event(release), close("fin"))),
        step_timeout=15, close_timeout=30)
    conn = hw.client(peer, timeout=15)
    get = conn.request("GET", "/get")
    # The GET's thread is the reader when the upload fails...
    reader = Worker(lambda: conn.get_response(get))
    reader.start()
    assert wait_for(lambda: conn._reading)
    with pytest.raises(WriteTimeout, match="writing"):
        conn.request("POST", "/upload", body=STUCK_UPLOAD, timeout=(5, 0.5))
    assert not conn.is_usable()
    # ...and then sees the server close: the first failure is what it reports.
    release.set()
    reader.finish()
    assert isinstance(reader.error, WriteTimeout)
    # A later request is not sent at all: safe to retry elsewhere.
    with pytest.raises(ConnectionClosed) as info:
        conn.request("GET", "/after")
    assert info.value.retry_safe
    assert isinstance(info.value.__cause__, WriteTimeout)
    hw.finish()


def test_other_threads_give_up_on_a_socket_stuck_in_a_write(hw: Harness) -> None:
    """One thread's upload holds the socket (the server stopped reading).
    Others don't wait for it longer than their own timeouts: reading,
    resetting a stream, sending a request, closing the connection."""
    blocked, release = threading.Event(), threading.Event()
    peer = hw.start(
        _stuck_upload_script(blocked, then=(send_headers("get", [(":status", "200")]),),
                             after=(wait_event(release), close("rst"))),
        step_timeout=20,
    )
    conn = hw.client(peer, timeout=(5, 0.3))
    get = conn.request("GET", "/get")
    uploader = Worker(lambda: conn.request("POST", "/upload", body=STUCK_UPLOAD,
                                           timeout=(5, 30)))
    uploader.start()
    assert blocked.wait(20)
    # The GET's response headers are there, but the socket is busy.
    with pytest.raises(ReadTimeout, match=f"stream {get}"):
        conn.get_response(get)
    # (Resetting the abandoned stream could not be sent either: quietly.)
    with pytest.raises(WriteTimeout, match="waiting to write"):
        conn.request("GET", "/another")
    conn.close()  # gives up on the GOAWAY, still closes
    assert not conn.is_usable()
    release.set()
    uploader.finish(30)
    assert isinstance(uploader.error, ConnectionClosed)
    hw.finish()
