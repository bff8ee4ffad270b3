"""HTTP20Connection's less travelled paths, against the scripted h2 peer.

The hyper 0.7 request API (putrequest/putheader/endheaders/send), error
paths of get_response, closing responses and connections in every state,
frames a server sends on streams the client already gave up, check_alive,
and what happens while one thread's upload is stuck because the server
stopped reading. Every test runs with the peer writing whole steps and one
byte at a time, unless the point is elsewhere.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any, Callable

import pytest
from hyperframe.frame import DataFrame, PingFrame, SettingsFrame

import hyper.http20.connection
from h2peer import (
    TYPE_HEADERS,
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    close,
    expect_frame,
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
    send_ping,
    send_push_promise,
    send_raw,
    send_rst,
    send_window_update,
    server_tls_context,
    wait_event,
)
from hyper import HTTP11Connection, HTTP20Connection
from hyper.common.transport import wait_readable
from hyper.exceptions import (
    ConnectionClosed,
    HPACKDecodingError,
    LocalProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    StreamNotProcessedError,
    StreamResetError,
    TLSError,
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



@pytest.fixture
def hw() -> Iterator[Harness]:
    """Whole steps only: for tests about the client's threads, not parsing."""
    harness = Harness("whole")
    yield harness
    harness.teardown()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def signal(event: threading.Event) -> Any:
    """A step that tells the test the peer got this far."""
    return call(lambda _session: event.set())


class Worker(threading.Thread):
    """Runs ``fn`` in a thread and keeps its result or exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 20.0) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the worker thread is stuck"
        return self.result


def data_of(peer: Any, stream_id: int) -> list[DataFrame]:
    frames: list[DataFrame] = peer.frames_of(DataFrame, stream_id)
    return frames


# -- hyper 0.7's request API ----------------------------------------------------------


def test_unknown_keyword_arguments_are_refused() -> None:
    for cls in (HTTP20Connection, HTTP11Connection):
        with pytest.raises(TypeError, match="bogus"):
            cls("127.0.0.1", 1, bogus=True)


def test_putheader_replace_and_headers_http2_drops(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/form")
    conn.putheader("X-Tag", "first", stream_id=sid)
    conn.putheader("x-tag", "second", stream_id=sid)
    conn.putheader("x-tag", "only", stream_id=sid, replace=True)
    # Host becomes :authority; RFC 9113 section 8.2.2 forbids the
    # connection-specific ones, and TE other than "trailers".
    conn.putheader("Host", "example.test:8080")
    conn.putheader("Connection", "keep-alive")
    conn.putheader("Keep-Alive", "timeout=5")
    conn.putheader("TE", "gzip")
    conn.endheaders(message_body=b"a=1", final=True, stream_id=sid)
    assert conn.get_response(sid).read() == b"ok"
    h.finish()
    request = peer.requests["r"]
    assert request.authority == "example.test:8080"
    assert request.get_all("x-tag") == ["only"]
    names = {name for name, _ in request.headers}
    assert not names & {"host", "connection", "keep-alive", "te"}
    assert b"".join(f.data for f in data_of(peer, sid)) == b"a=1"
    assert "END_STREAM" in data_of(peer, sid)[-1].flags


def test_te_trailers_is_kept(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    sid = conn.request("GET", "/", headers={"TE": "trailers"})
    assert conn.get_response(sid).read() == b"ok"
    h.finish()
    assert peer.requests["r"].get("te") == "trailers"


@pytest.mark.parametrize("how", ["send-empty-final", "empty-iterable"])
def test_body_ended_by_an_empty_data_frame(h: Harness, how: str) -> None:
    """When the end of the body is only known after its last byte went out,
    END_STREAM rides on an empty DATA frame."""
    peer = h.start([handshake(), expect_request("r"),
                    expect_frame(DataFrame, "r", lambda f: "END_STREAM" in f.flags),
                    respond("r", b"got it")])
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/")
    conn.endheaders()
    conn.send(b"abc")
    if how == "send-empty-final":
        conn.send(b"", final=True)
    else:
        conn.send([], final=True, stream_id=sid)
    assert conn.get_response(sid).read() == b"got it"
    h.finish()
    frames = data_of(peer, sid)
    assert b"".join(f.data for f in frames) == b"abc"
    assert frames[-1].data == b""
    assert "END_STREAM" in frames[-1].flags


def test_body_that_yields_nothing(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"),
                    expect_frame(DataFrame, "r", lambda f: "END_STREAM" in f.flags),
                    respond("r", b"empty")])
    conn = h.client(peer)
    sid = conn.request("POST", "/", body=iter([]))
    assert conn.get_response(sid).read() == b"empty"
    h.finish()
    assert [(f.data, "END_STREAM" in f.flags) for f in data_of(peer, sid)] == [(b"", True)]


def test_request_api_misuse_is_a_local_error(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"ok")])
    conn = h.client(peer)
    with pytest.raises(LocalProtocolError, match="putrequest"):
        conn.putheader("x-a", "1")
    with pytest.raises(LocalProtocolError, match="putrequest"):
        conn.endheaders()
    with pytest.raises(LocalProtocolError, match="No open request"):
        conn.send(b"data")
    with pytest.raises(LocalProtocolError, match="No request is waiting"):
        conn.get_response()
    sid = conn.request("GET", "/")
    with pytest.raises(LocalProtocolError, match="No open request"):
        conn.send(b"more", stream_id=sid)  # the GET already ended its stream
    with pytest.raises(LocalProtocolError, match="stream 99"):
        conn.get_response(99)
    assert conn.get_response(sid).read() == b"ok"
    with pytest.raises(LocalProtocolError, match=f"stream {sid}"):
        conn.get_response(sid)
    h.finish()


def test_requests_must_be_ended_in_stream_order(h: Harness) -> None:
    """RFC 9113 section 5.1.1: new stream IDs must increase."""
    peer = h.start([handshake(), expect_request("second"), respond("second", b"2")])
    conn = h.client(peer)
    first = conn.putrequest("GET", "/first")
    second = conn.putrequest("GET", "/second")
    conn.endheaders(final=True, stream_id=second)
    with pytest.raises(LocalProtocolError, match=f"Stream {first} must be sent before"):
        conn.endheaders(final=True, stream_id=first)
    assert conn.get_response(second).read() == b"2"
    assert conn.is_idle()
    h.finish()
    assert [b.path for b in peer.blocks] == ["/second"]


def test_request_h2_refuses_ends_new_requests_on_the_connection(h: Harness) -> None:
    """A CONNECT with a path is no valid HTTP/2 request (RFC 9113 section
    8.5). h2 refuses it only after its HPACK encoder took the headers in, so
    the server's decoder would no longer match: the connection takes no new
    request (safe to retry elsewhere), and the one in flight completes."""
    answer = threading.Event()
    peer = h.start([handshake(), expect_request("r"), wait_event(answer),
                    respond("r", b"in flight")])
    conn = h.client(peer)
    sid = conn.request("GET", "/first")
    with pytest.raises(LocalProtocolError, match="cannot be sent"):
        conn.request("CONNECT", "/")
    assert not conn.is_usable()
    assert conn.stream_capacity() == 0
    with pytest.raises(StreamNotProcessedError) as info:
        conn.request("GET", "/next")
    assert info.value.retry_safe
    answer.set()
    assert conn.get_response(sid).read() == b"in flight"
    h.finish()
    assert [b.path for b in peer.blocks] == ["/first"]


def test_default_tls_context_does_not_trust_the_test_ca(h2_server: Any) -> None:
    conn = HTTP20Connection(h2_server.host, h2_server.port, secure=True, timeout=5)
    with pytest.raises(TLSError, match="verif"):
        conn.request("GET", "/")
    assert isinstance(conn.ssl_context, ssl.SSLContext)


# -- closed connections ---------------------------------------------------------------


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


def read_then_reset(h: Harness) -> tuple[Any, Any]:
    """A connection that read one response, then was reset by the server
    (it waits for the test before the RST, so that no byte is lost)."""
    done = threading.Event()
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x"), wait_event(done),
                    close("rst")])
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    done.set()
    peer.join()
    return peer, conn


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


# -- errors in what the server sends --------------------------------------------------


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


# -- pushes ---------------------------------------------------------------------------


def test_push_objects_and_reading_a_push_by_stream_id(h: Harness) -> None:
    peer = h.start([
        handshake(),
        expect_request("r"),
        send(send_push_promise("r", 2, lambda s: push_headers(s.named["r"], "/p1")),
             send_push_promise("r", 4, lambda s: push_headers(s.named["r"], "/p2")),
             respond("r", b"main")),
        respond(2, b"first push"),
        send_rst(4, ErrorCodes.REFUSED_STREAM),
    ])
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.stream_id == sid
    assert resp.read() == b"main"
    one, two = conn.get_pushes(sid)
    assert (one.stream_id, two.stream_id) == (2, 4)
    assert repr(one) == "<HTTP20Push b'GET' b'http'://" + repr(one.authority) + "b'/p1'>"
    # A promised response may also be read like any other, by its stream ID.
    pushed = conn.get_response(one.stream_id)
    assert pushed.stream_id == 2
    assert pushed.read() == b"first push"
    with pytest.raises(StreamResetError) as info:
        two.get_response()
    assert info.value.error_code == ErrorCodes.REFUSED_STREAM
    assert conn.is_idle()
    h.finish()


# -- check_alive ----------------------------------------------------------------------


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


# -- several threads -------------------------------------------------------------------


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


# -- TLS records read in pieces ---------------------------------------------------------


def test_tls_bytes_already_decrypted_are_read_without_waiting(
    h: Harness, certs: Any, ssl_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tiny reads, most of each TLS record stays inside the TLS layer,
    where polling the socket cannot see it: hyper must read it anyway, both
    while waiting for a response and in check_alive."""
    monkeypatch.setattr(hyper.http20.connection, "_BATCH_LIMIT", 1)
    goaway_now = threading.Event()
    peer = h.start(
        [handshake(), expect_request("r"), respond("r", b"x" * 300), wait_event(goaway_now),
         send_goaway("r")],
        tls=server_tls_context(str(certs.server_cert_path), str(certs.server_key_path)),
        step_timeout=15,
    )
    conn = h.track(HTTP20Connection("127.0.0.1", peer.port, secure=True,
                                    ssl_context=ssl_context, timeout=10,
                                    network_buffer_size=5))
    assert conn.get_response(conn.request("GET", "/")).read() == b"x" * 300
    goaway_now.set()
    assert wait_for(lambda: not conn.check_alive())
    h.finish()
