"""Hostile input to the HTTP/2 protocol state, without sockets.

ClientState (hyper/http20/state.py) does no I/O, so whatever a server could
send can be fed to it directly: random bytes, and random sequences of
well-formed frames of every type with random fields. Whatever comes, it must
not raise (h2's, hpack's or Python's own exceptions must not escape), and
every failure it records must be one of hyper's exceptions. Each input is fed
whole and in random pieces.
"""

from __future__ import annotations

import os
from typing import Any

import hpack
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PriorityFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hyper.exceptions import HyperError
from hyper.http20.state import ClientState
from hyper.http20.window import MAX_WINDOW_SIZE, FlowControlManager

# HYPER_FUZZ_EXAMPLES raises the count for a longer hunt by hand.
FUZZ = settings(max_examples=int(os.environ.get("HYPER_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Streams the client opened (1, 3), ones it did not (2, 5) and the connection.
stream_ids = st.sampled_from([0, 1, 2, 3, 5, 2**31 - 1])
small_ints = st.integers(min_value=0, max_value=2**31 - 1)

header_lists = st.lists(
    st.tuples(
        st.sampled_from([b":status", b":path", b":authority", b":scheme", b":method",
                         b"content-length", b"x-a", b"X-Upper", b"connection", b"te", b""]),
        st.one_of(st.sampled_from([b"200", b"204", b"99", b"abc", b"-1", b"http",
                                   b"127.0.0.1", b"/"]),
                  st.binary(max_size=20)),
    ),
    max_size=6,
)


def _header_block(draw: Any) -> bytes:
    """A header block: HPACK-encoded (valid or not as HTTP), or garbage."""
    if draw(st.booleans()):
        return hpack.Encoder().encode(draw(header_lists))
    return draw(st.binary(max_size=40))


@st.composite
def frames(draw: Any) -> Frame:
    frame = _frame(draw)
    # hyperframe refuses a wrong stream ID (0 for DATA, 1 for SETTINGS) when
    # building the frame, not when serializing it; a server may send one.
    frame.stream_id = draw(stream_ids)
    return frame


def _frame(draw: Any) -> Frame:
    kind = draw(st.sampled_from(["data", "headers", "continuation", "rst", "settings",
                                 "push", "ping", "goaway", "window", "priority"]))
    sid = 1
    end = ["END_STREAM"] if draw(st.booleans()) else []
    if kind == "data":
        return DataFrame(sid, draw(st.binary(max_size=64)), flags=end)
    if kind == "headers":
        frame = HeadersFrame(sid, flags=end + (["END_HEADERS"] if draw(st.booleans()) else []))
        frame.data = _header_block(draw)
        return frame
    if kind == "continuation":
        frame = ContinuationFrame(sid, flags=["END_HEADERS"] if draw(st.booleans()) else [])
        frame.data = _header_block(draw)
        return frame
    if kind == "rst":
        return RstStreamFrame(sid, error_code=draw(st.integers(0, 20)))
    if kind == "settings":
        settings_ = draw(st.dictionaries(st.integers(1, 9), small_ints, max_size=3))
        return SettingsFrame(0, settings=settings_, flags=["ACK"] if not settings_ and
                             draw(st.booleans()) else [])
    if kind == "push":
        frame = PushPromiseFrame(sid, promised_stream_id=draw(st.sampled_from([2, 4, 3, 0])),
                                 flags=["END_HEADERS"])
        frame.data = _header_block(draw)
        return frame
    if kind == "ping":
        return PingFrame(0, draw(st.binary(min_size=8, max_size=8)),
                         flags=["ACK"] if draw(st.booleans()) else [])
    if kind == "goaway":
        return GoAwayFrame(0, last_stream_id=draw(st.sampled_from([0, 1, 3, 2**31 - 1])),
                           error_code=draw(st.integers(0, 20)),
                           additional_data=draw(st.binary(max_size=8)))
    if kind == "window":
        return WindowUpdateFrame(sid, window_increment=draw(st.integers(0, 2**31 - 1)))
    return PriorityFrame(sid, depends_on=draw(st.sampled_from([0, 1, 3])),
                         stream_weight=draw(st.integers(0, 255)))


def client(enable_push: bool) -> ClientState:
    """A state as after connect() and two requests (streams 1 and 3); the
    server's SETTINGS frame comes first in every input."""
    state = ClientState(scheme="https", authority="example.test", port=443,
                        enable_push=enable_push, window_manager_class=FlowControlManager)
    state.initiate()
    state.receive(SettingsFrame(0).serialize())
    for _ in range(2):
        state.open_stream(None, [(b":method", b"POST"), (b":scheme", b"https"),
                                 (b":authority", b"example.test"), (b":path", b"/")],
                          False, 5.0)
    state.take_outbound()
    return state


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


def feed_and_check(state: ClientState, data: bytes, cuts: list[int]) -> None:
    for piece in pieces(data, cuts) if cuts else [data]:
        state.receive(piece)  # must not raise, whatever the bytes
        # What the client does between reads must not raise either.
        state.take_outbound()
        assert state.failure is None or isinstance(state.failure, HyperError)
    for stream in list(state.streams.values()):
        assert stream.error is None or isinstance(stream.error, HyperError)
        if stream.data_ready and stream.state.name != "FAILED":
            state.consume(stream)
    state.capacity()
    state.usable()
    check_windows(state)


def check_windows(state: ClientState) -> None:
    """Flow-control bookkeeping stays exact, whatever came."""
    assert state.unread == sum(s.unread for s in state.streams.values()) >= 0
    for stream in state.streams.values():
        assert stream.unread == sum(length for _, length in stream.data)
    assert state.h2._inbound_flow_control_window_manager.current_window_size <= MAX_WINDOW_SIZE
    for h2_stream in state.h2.streams.values():
        assert h2_stream._inbound_window_manager.current_window_size <= MAX_WINDOW_SIZE


@FUZZ
@given(data=st.binary(max_size=300), cuts=st.lists(st.integers(0, 400), max_size=5),
       push=st.booleans())
def test_random_bytes_never_escape_as_raw_exceptions(data: bytes, cuts: list[int],
                                                     push: bool) -> None:
    feed_and_check(client(push), data, cuts)


@FUZZ
@given(sequence=st.lists(frames(), min_size=1, max_size=8),
       cuts=st.lists(st.integers(0, 2000), max_size=4), push=st.booleans())
def test_random_frames_never_escape_as_raw_exceptions(sequence: list[Frame], cuts: list[int],
                                                      push: bool) -> None:
    feed_and_check(client(push), b"".join(f.serialize() for f in sequence), cuts)


def test_a_well_formed_response_is_read_through_the_same_checks() -> None:
    """The fuzz harness itself: a valid answer on stream 1 comes out whole."""
    state = client(False)
    block = hpack.Encoder().encode([(b":status", b"200"), (b"content-length", b"2")])
    data = HeadersFrame(1, block, flags=["END_HEADERS"]).serialize() + \
        DataFrame(1, b"ok", flags=["END_STREAM"]).serialize()
    feed_and_check(state, data, [3, 20])
    stream = state.streams[1]
    assert stream.headers == [(b":status", b"200"), (b"content-length", b"2")]
    assert state.failure is None


# -- flow control: the server's DATA and window changes against our reads and uploads --

operations = st.lists(st.one_of(
    # The server: DATA (possibly beyond the window), lowering or raising
    # its INITIAL_WINDOW_SIZE (negative send windows), WINDOW_UPDATE.
    st.tuples(st.just("data"), st.sampled_from([1, 3]), st.integers(0, 3 * 16384)),
    st.tuples(st.just("initial"), st.just(0), st.sampled_from([0, 1, 100, 65535, 2**31 - 1])),
    st.tuples(st.just("update"), st.sampled_from([0, 1, 3]),
              st.one_of(st.integers(1, 70_000), st.just(2**31 - 1))),
    st.tuples(st.just("end"), st.sampled_from([1, 3]), st.just(0)),
    # The client: read a piece, upload some of a body, abandon a stream.
    st.tuples(st.just("read"), st.sampled_from([1, 3]), st.integers(1, 8)),
    st.tuples(st.just("upload"), st.sampled_from([1, 3]), st.integers(0, 100_000)),
    st.tuples(st.just("cancel"), st.sampled_from([1, 3]), st.just(0)),
), min_size=1, max_size=40)


@FUZZ
@given(ops=operations, cap=st.sampled_from([0, 50_000, 2**25]))
def test_flow_control_stays_exact(ops: list[tuple[str, int, int]], cap: int) -> None:
    state = client(False)
    state.max_unread = cap
    block = hpack.Encoder().encode([(b":status", b"200")])
    state.receive(HeadersFrame(1, block, flags=["END_HEADERS"]).serialize())
    state.receive(HeadersFrame(3, block, flags=["END_HEADERS"]).serialize())
    for kind, sid, value in ops:
        stream = state.streams.get(sid)
        if kind == "data":
            state.receive(b"".join(DataFrame(sid, b"d" * min(16384, value - i)).serialize()
                                   for i in range(0, value, 16384)))
        elif kind == "initial":
            state.receive(SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: value})
                          .serialize())
        elif kind == "update":
            state.receive(WindowUpdateFrame(sid, window_increment=value).serialize())
        elif kind == "end":
            state.receive(DataFrame(sid, b"", flags=["END_STREAM"]).serialize())
        elif stream is None:
            continue
        elif kind == "read":
            for _ in range(value):
                if stream.data_ready:
                    try:
                        state.consume(stream)
                    except HyperError:
                        break
        elif kind == "upload":
            # A negative window is no room yet (RFC 9113 section 6.9.2), and
            # -1 only means the stream takes no more data.
            room = state.send_window(sid)
            assert room >= -1
            try:
                sent = state.send_data(sid, memoryview(b"u" * value), False)
            except HyperError:
                pass
            else:
                assert sent == (None if room < 0 else min(room, value))
        else:
            if not stream.response_taken:
                state.claim(sid)
            state.cancel(stream, 8)
        state.take_outbound()
        assert state.failure is None or isinstance(state.failure, HyperError)
        check_windows(state)
