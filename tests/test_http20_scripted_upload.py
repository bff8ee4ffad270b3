"""hyper's HTTP/2 uploads under the server's flow control and frame size,
and requests rejected before anything is sent (scripted peer).

The upload peer gives window stop-and-wait: it sends WINDOW_UPDATE only
when the client has used up its window, so at every moment it knows exactly
what the client may send, and checks each DATA frame against it.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from h2peer import (
    DEFAULT_WINDOW,
    ErrorCodes,
    Harness,
    PeerError,
    PeerSession,
    call,
    expect_request,
    expect_rst,
    handshake,
    respond,
    send,
    send_rst,
    send_window_update,
)
from hyper.exceptions import InvalidHeaderError

pytestmark = pytest.mark.timeout(30)



def receive_upload(
    name: str,
    *,
    stream_window: int,
    max_frame: int,
    stream_credit: Sequence[int] = (1 << 20,),
    connection_credit: Sequence[int] = (1 << 20,),
    strict_sizes: bool = True,
) -> Any:
    """Read the body of request ``name`` under stop-and-wait flow control,
    then answer with the SHA-256 of what arrived.

    ``strict_sizes``: every non-empty DATA frame must be as large as the
    windows, the max frame size and the rest of the body allow (RFC 9113
    forbids nothing smaller, but a bytes body has no excuse)."""

    def step(session: PeerSession) -> None:
        stream_id = session.stream(name)
        declared = session.named[name].get("content-length")
        total = int(declared) if declared is not None else None
        windows = {"stream": stream_window, "connection": DEFAULT_WINDOW}
        credit = {
            "stream": itertools.cycle(stream_credit),
            "connection": itertools.cycle(connection_credit),
        }
        digest = hashlib.sha256()
        received = 0
        while True:
            frame = session.expect_type(
                DataFrame,
                f"DATA on stream {stream_id} ({received} bytes so far)",
                lambda f: f.stream_id == stream_id,
            )
            length = frame.flow_controlled_length
            for which, window in windows.items():
                if length > window:
                    raise PeerError(
                        f"the client sent {length} bytes with a {which} window of {window}"
                    )
            if len(frame.data) > max_frame:
                raise PeerError(
                    f"DATA of {len(frame.data)} bytes exceeds SETTINGS_MAX_FRAME_SIZE {max_frame}"
                )
            if strict_sizes and frame.data and total is not None:
                allowed = min(max_frame, *windows.values(), total - received)
                if len(frame.data) != allowed:
                    raise PeerError(f"DATA of {len(frame.data)} bytes when {allowed} were allowed")
            for which in windows:
                windows[which] -= length
            received += len(frame.data)
            digest.update(frame.data)
            if "END_STREAM" in frame.flags:
                break
            if windows["stream"] == 0:
                increment = next(credit["stream"])
                send_window_update(stream_id, increment)(session)
                windows["stream"] += increment
            if windows["connection"] == 0:
                increment = next(credit["connection"])
                send_window_update(0, increment)(session)
                windows["connection"] += increment
            session.flush()
        if total is not None and received != total:
            raise PeerError(f"received {received} bytes, content-length said {total}")
        respond(stream_id, digest.hexdigest().encode())(session)

    return call(step)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).hexdigest().encode()


def data_frames(peer: Any, stream_id: int) -> list[DataFrame]:
    frames: list[DataFrame] = peer.frames_of(DataFrame, stream_id)
    return frames


WARM_UP = [expect_request("warm-up"), respond("warm-up", b"ok")]


def warm_up(conn: Any) -> None:
    """One exchange first, so the client has applied the server's SETTINGS
    before it opens the upload stream (until then RFC 9113 section 6.5.3
    lets it use the defaults)."""
    assert conn.get_response(conn.request("GET", "/warm-up")).read() == b"ok"


@pytest.mark.parametrize("max_frame", [16384, 40000])
def test_large_upload_respects_window_and_frame_size(h: Harness, max_frame: int) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: 100, SettingsFrame.MAX_FRAME_SIZE: max_frame}
    peer = h.start(
        [
            handshake(settings),
            *WARM_UP,
            expect_request("up"),
            receive_upload(
                "up",
                stream_window=100,
                max_frame=max_frame,
                stream_credit=[1000, 3 * 16384, 100_003, 250_000],
                connection_credit=[70_000, 300_001],
            ),
        ]
    )
    conn = h.client(peer, timeout=10)
    warm_up(conn)
    sid = conn.request("POST", "/upload", body=body)
    assert conn.get_response(sid).read() == sha(body)
    h.finish()
    request = peer.requests["up"]
    assert not request.end_stream
    assert request.get("content-length") == str(len(body))
    frames = data_frames(peer, sid)
    assert "END_STREAM" in frames[-1].flags
    assert sum(len(f.data) for f in frames) == len(body)
    assert max(len(f.data) for f in frames) == max_frame


def test_empty_body_ends_stream_on_headers(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("e"), respond("e", b"done")])
    conn = h.client(peer)
    sid = conn.request("POST", "/empty", body=b"")
    assert conn.get_response(sid).read() == b"done"
    h.finish()
    assert peer.requests["e"].end_stream
    assert data_frames(peer, sid) == []


def test_body_of_exact_frame_multiple_ends_the_stream(h: Harness) -> None:
    body = b"m" * (2 * 16384)
    peer = h.start(
        [
            handshake(),
            expect_request("u"),
            receive_upload("u", stream_window=DEFAULT_WINDOW, max_frame=16384),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("POST", "/multiple", body=body)
    assert conn.get_response(sid).read() == sha(body)
    h.finish()
    frames = data_frames(peer, sid)
    assert [len(f.data) for f in frames if f.data] == [16384, 16384]
    assert "END_STREAM" in frames[-1].flags
    assert all("END_STREAM" not in f.flags for f in frames[:-1])


def test_body_exactly_the_window(h: Harness) -> None:
    """The body fills the window exactly: END_STREAM must come without
    waiting for more credit (an empty final DATA needs none)."""
    body = b"w" * 100
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: 100}
    peer = h.start(
        [
            handshake(settings),
            *WARM_UP,
            expect_request("u"),
            receive_upload("u", stream_window=100, max_frame=16384, stream_credit=[0x7FFF]),
        ]
    )
    conn = h.client(peer)
    warm_up(conn)
    sid = conn.request("POST", "/fill", body=body)
    assert conn.get_response(sid).read() == sha(body)
    h.finish()


def test_file_like_body(h: Harness) -> None:
    body = bytes(range(251)) * 500
    peer = h.start(
        [
            handshake(),
            expect_request("u"),
            receive_upload("u", stream_window=DEFAULT_WINDOW, max_frame=16384, strict_sizes=False),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("POST", "/file", body=io.BytesIO(body))
    assert conn.get_response(sid).read() == sha(body)
    h.finish()
    assert "END_STREAM" in data_frames(peer, sid)[-1].flags


def test_str_body_is_utf8(h: Harness) -> None:
    text = "h\u00e9llo \u2603"
    peer = h.start(
        [
            handshake(),
            expect_request("u"),
            receive_upload("u", stream_window=DEFAULT_WINDOW, max_frame=16384),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("POST", "/text", body=text)
    assert conn.get_response(sid).read() == sha(text.encode("utf-8"))
    h.finish()
    assert peer.requests["u"].get("content-length") == str(len(text.encode("utf-8")))


def test_streamed_body_with_send(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("u"),
            receive_upload("u", stream_window=DEFAULT_WINDOW, max_frame=16384, strict_sizes=False),
        ]
    )
    conn = h.client(peer)
    sid = conn.putrequest("POST", "/stream")
    conn.putheader("x-part", "yes", stream_id=sid)
    conn.endheaders(stream_id=sid)
    conn.send(b"abc", stream_id=sid)
    conn.send(b"def", final=True, stream_id=sid)
    assert conn.get_response(sid).read() == sha(b"abcdef")
    h.finish()
    request = peer.requests["u"]
    assert not request.end_stream
    assert request.get("x-part") == "yes"
    assert b"".join(f.data for f in data_frames(peer, sid)) == b"abcdef"
    assert "END_STREAM" in data_frames(peer, sid)[-1].flags


def _answer_early_and_reset(session: PeerSession) -> None:
    stream_id = session.stream("u")
    session.expect_type(DataFrame, "the first DATA", lambda f: f.stream_id == stream_id)
    # RFC 9113 section 8.1: "A server can send a complete response prior to
    # the client sending an entire request ... the server MAY request that
    # the client abort transmission of a request without error by sending a
    # RST_STREAM with an error code of NO_ERROR after sending a complete
    # response ... Clients MUST NOT discard responses as a result".
    send(respond(stream_id, b"stop uploading"), send_rst(stream_id, ErrorCodes.NO_ERROR))(session)


def test_early_response_and_reset_no_error_during_upload(h: Harness) -> None:
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: 100}
    peer = h.start([
        handshake(settings), *WARM_UP, expect_request("u"), call(_answer_early_and_reset),
        expect_request("after"), respond("after", b"next"),
    ])
    # A client still waiting for window here would wait for its whole timeout
    # (and fail); a working one answers at once, whatever the machine's load.
    conn = h.client(peer, timeout=10)
    warm_up(conn)
    sid = conn.request("POST", "/big", body=b"b" * 10_000)
    assert conn.get_response(sid).read() == b"stop uploading"
    # One more exchange, so the peer has sent its RST_STREAM (byte by byte,
    # maybe after the client stopped uploading) before the client closes.
    assert conn.get_response(conn.request("GET", "/after")).read() == b"next"
    h.finish()
    # Without more window the client could not send more than the first 100 bytes.
    assert sum(len(f.data) for f in data_frames(peer, sid)) == 100


# -- requests refused before anything is sent ---------------------------------------------

BAD_VALUES = ["a\rb", "a\nb", "a\x00b", "ok\r\nx-injected: 1", b"a\r\nb"]


@pytest.mark.parametrize("value", BAD_VALUES, ids=repr)
def test_header_injection_is_refused_before_sending(h: Harness, value: Any) -> None:
    peer = h.start([handshake(), expect_request("ok"), respond("ok", b"fine")])
    conn = h.client(peer)
    with pytest.raises(InvalidHeaderError):
        conn.request("GET", "/bad", headers={"x-bad": value})
    assert conn.get_response(conn.request("GET", "/ok")).read() == b"fine"
    h.finish()
    assert [b.path for b in peer.blocks] == ["/ok"]
    assert all(
        name != "x-injected" and name != "x-bad" for b in peer.blocks for name, _ in b.headers
    )
    # Nothing at all was sent for the refused request: one HEADERS frame in all.
    assert len(peer.frames_of(HeadersFrame)) == 1


@pytest.mark.parametrize("name", ["x-bad\r\nx-injected", "x bad", "x-bad:", ""], ids=repr)
def test_invalid_header_name_is_refused_before_sending(h: Harness, name: str) -> None:
    peer = h.start([handshake(), expect_request("ok"), respond("ok", b"fine")])
    conn = h.client(peer)
    with pytest.raises(InvalidHeaderError):
        conn.request("GET", "/bad", headers={name: "v"})
    assert conn.get_response(conn.request("GET", "/ok")).read() == b"fine"
    h.finish()
    assert [b.path for b in peer.blocks] == ["/ok"]


def _answer_early_without_reset(session: PeerSession) -> None:
    stream_id = session.stream("u")
    session.expect_type(DataFrame, "the first DATA", lambda f: f.stream_id == stream_id)
    # A complete response, no RST_STREAM and no more window: the server
    # wants no more of the body.
    respond(stream_id, b"enough")(session)


def test_early_response_without_reset_stops_the_upload(h: Harness) -> None:
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: 100}
    peer = h.start([
        handshake(settings), *WARM_UP, expect_request("u"), call(_answer_early_without_reset),
        expect_rst("u", [ErrorCodes.CANCEL]),
    ])
    conn = h.client(peer, timeout=10)
    warm_up(conn)
    # Returns at once instead of waiting out the timeout for window (and failing).
    sid = conn.request("POST", "/big", body=b"b" * 10_000)
    assert conn.get_response(sid).read() == b"enough"
    h.finish()
    assert sum(len(f.data) for f in data_frames(peer, sid)) == 100


def _failing_body() -> Iterator[bytes]:
    yield b"first part"
    raise RuntimeError("the body's source failed")


def test_failing_body_resets_the_stream(h: Harness) -> None:
    peer = h.start([
        handshake(), *WARM_UP, expect_request("u"), expect_rst("u", [ErrorCodes.CANCEL]),
        expect_request("after"), respond("after", b"still fine"),
    ])
    conn = h.client(peer)
    warm_up(conn)
    with pytest.raises(RuntimeError, match="source failed"):
        conn.request("POST", "/broken", body=_failing_body())
    assert conn.is_idle() or conn.stream_capacity() > 0
    assert conn.get_response(conn.request("GET", "/after")).read() == b"still fine"
    h.finish()


def _answer_after_first_data(session: PeerSession) -> None:
    stream_id = session.stream("u")
    session.expect_type(DataFrame, "the first DATA", lambda f: f.stream_id == stream_id)
    respond(stream_id, b"done early")(session)


def test_upload_stops_quietly_once_its_response_was_read(h: Harness) -> None:
    """The body's producer itself reads the (early, complete) response: the
    stream is then gone, and the rest of the body is not sent."""
    peer = h.start([handshake(), *WARM_UP, expect_request("u"), call(_answer_after_first_data),
                    expect_rst("u", [ErrorCodes.CANCEL])])
    conn = h.client(peer)
    warm_up(conn)
    sid = conn.putrequest("POST", "/early")
    seen: list[bytes] = []

    def body() -> Iterator[bytes]:
        yield b"a" * 50
        # (hyper looks one chunk ahead: this one is asked for before the
        # first goes out, and sent after the response was read.)
        yield b"c" * 50
        seen.append(conn.get_response(sid).read())
        yield b"b" * 50

    conn.endheaders(message_body=body(), final=True, stream_id=sid)
    h.finish()
    assert seen == [b"done early"]
    assert b"".join(f.data for f in data_frames(peer, sid)) == b"a" * 50
