"""What an HTTP/2 connection buffers for its caller: responses held open
unread cost one small stream window each (nginx through requests), a stream
read as it comes grows its window, and a connection stops crediting the
server while too much lies unread (ClientState, without sockets).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hyperframe.frame import DataFrame, Frame, HeadersFrame, SettingsFrame, WindowUpdateFrame

from hyper.exceptions import HTTP2ConnectionError
from hyper.http20.state import ClientState
from hyper.http20.window import (
    DEFAULT_CONNECTION_WINDOW,
    DEFAULT_STREAM_WINDOW,
    MAX_STREAM_WINDOW,
    MAX_WINDOW_SIZE,
    BaseFlowControlManager,
    FlowControlManager,
)

HERE = Path(__file__).resolve().parent
MIB = 1024 * 1024


@pytest.mark.timeout(300)
def test_300_held_open_responses_stay_small(nginx_server: Any, certs: Any) -> None:
    """requests' stream=True through HTTP20Adapter, one chunk read from each
    of 300 responses of 4 MiB: each buffers at most its stream window, and
    the whole process grows by less than 64 MiB (it grew by 1.2 GiB when
    every stream had a 16 MiB window)."""
    (Path(nginx_server.htdocs) / "held-4m.bin").write_bytes(bytes(range(256)) * 16384)
    child = subprocess.run(
        [sys.executable, str(HERE / "held_responses.py"), nginx_server.url,
         str(certs.ca_path), "/held-4m.bin", "300"],
        capture_output=True, text=True, timeout=240)
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["count"] == 300
    assert result["unread"] <= 300 * DEFAULT_STREAM_WINDOW
    assert result["rss_after"] - result["rss_before"] < 64 * MIB


# -- ClientState ------------------------------------------------------------------------

REQUEST = [(b":method", b"GET"), (b":scheme", b"https"), (b":authority", b"example.test"),
           (b":path", b"/")]
RESPONSE_HEAD = HeadersFrame(1, flags=["END_HEADERS"])


def client(manager: type[BaseFlowControlManager] = FlowControlManager, streams: int = 1,
           **kwargs: Any) -> ClientState:
    state = ClientState(scheme="https", authority="example.test", port=443, enable_push=False,
                        window_manager_class=manager, **kwargs)
    state.initiate()
    state.receive(SettingsFrame(0).serialize())
    import hpack

    block = hpack.Encoder().encode([(b":status", b"200")])
    for _ in range(streams):
        sid = state.open_stream(None, REQUEST, True, 5.0)
        state.receive(HeadersFrame(sid, block, flags=["END_HEADERS"]).serialize())
    state.take_outbound()
    return state


def data(stream_id: int, size: int, byte: bytes = b"x") -> bytes:
    """DATA frames carrying ``size`` bytes, at most 16 KiB each (our
    SETTINGS_MAX_FRAME_SIZE)."""
    sizes = [16384] * (size // 16384) + ([size % 16384] if size % 16384 else [])
    return b"".join(DataFrame(stream_id, byte * n).serialize() for n in sizes)


def updates(state: ClientState) -> dict[int, int]:
    """The WINDOW_UPDATE increments queued, summed by stream."""
    out: dict[int, int] = {}
    view = memoryview(state.take_outbound())
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9:9 + length])
        if isinstance(frame, WindowUpdateFrame):
            out[frame.stream_id] = out.get(frame.stream_id, 0) + frame.window_increment
        view = view[9 + length:]
    return out


def test_a_stream_starts_with_a_small_window() -> None:
    state = client()
    assert state.h2.local_settings.initial_window_size == DEFAULT_STREAM_WINDOW
    assert state.h2.remote_flow_control_window(1) == DEFAULT_STREAM_WINDOW


def test_a_stream_read_as_it_comes_grows_its_window_to_the_largest() -> None:
    state = client()
    stream = state.streams[1]
    assert isinstance(stream.window, FlowControlManager)
    targets = [stream.window.target_window_size]
    advertised = DEFAULT_STREAM_WINDOW
    received = 0
    for _ in range(11):
        # The server sends all it may; the reader reads all of it.
        size = advertised - received
        state.receive(data(1, size))
        received += size
        while stream.data:
            state.consume(stream)
        advertised += updates(state).get(1, 0)
        # What the server may send: never more than the largest window.
        assert 0 < advertised - received <= MAX_STREAM_WINDOW
        assert advertised - received == state.h2.remote_flow_control_window(1)
        targets.append(stream.window.target_window_size)
    # Doubling at each refill, from 64 KiB to 16 MiB in 8 steps, then steady.
    assert targets[:10] == [DEFAULT_STREAM_WINDOW << i for i in range(9)] + [MAX_STREAM_WINDOW]
    assert set(targets[9:]) == {MAX_STREAM_WINDOW}
    assert advertised - received >= MAX_STREAM_WINDOW * 3 // 4
    assert state.unread == 0 and stream.unread == 0


def test_a_stream_read_a_little_keeps_its_small_window() -> None:
    """What a held-open response does: one piece read, the rest left."""
    state = client()
    stream = state.streams[1]
    state.receive(data(1, DEFAULT_STREAM_WINDOW))
    assert state.consume(stream) == (b"x" * 16384, False)
    assert updates(state) == {}
    assert stream.unread == state.unread == DEFAULT_STREAM_WINDOW - 16384
    assert state.h2.remote_flow_control_window(1) == 0
    assert isinstance(stream.window, FlowControlManager)
    assert stream.window.target_window_size == DEFAULT_STREAM_WINDOW


def test_the_server_may_not_exceed_the_advertised_window() -> None:
    state = client()
    state.receive(data(1, DEFAULT_STREAM_WINDOW + 1))
    assert isinstance(state.failure, HTTP2ConnectionError)
    assert state.failure.error_code == 3  # FLOW_CONTROL_ERROR


def test_credit_never_takes_a_window_beyond_the_protocol_maximum() -> None:
    class Greedy(BaseFlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            return MAX_WINDOW_SIZE

    state = client(Greedy)
    stream = state.streams[1]
    for _ in range(3):
        state.receive(DataFrame(1, b"x" * 1000).serialize())
        state.consume(stream)
        assert state.h2.remote_flow_control_window(1) <= MAX_WINDOW_SIZE
        assert state.h2._inbound_flow_control_window_manager.current_window_size \
            <= MAX_WINDOW_SIZE
    assert state.h2.remote_flow_control_window(1) == MAX_WINDOW_SIZE


def test_connection_credit_is_withheld_while_too_much_lies_unread() -> None:
    cap = 3 * DEFAULT_STREAM_WINDOW
    state = client(streams=4, max_unread=cap)
    state.receive(b"".join(data(sid, DEFAULT_STREAM_WINDOW) for sid in (1, 3, 5, 7)))
    assert state.unread == 4 * DEFAULT_STREAM_WINDOW > cap
    # Over the cap once the batch was in: the connection's manager has not
    # heard of it, and no credit went out.
    assert state.conn_window.window_size == DEFAULT_CONNECTION_WINDOW
    assert updates(state) == {}
    # Reading brings the connection under its cap: the held bytes are reported.
    for _ in range(4):
        state.consume(state.streams[7])
    assert state.unread == cap
    assert state.conn_window.window_size == DEFAULT_CONNECTION_WINDOW - 4 * DEFAULT_STREAM_WINDOW
    assert state.conn_window.buffered_size == cap


def test_withheld_connection_credit_is_sent_once_under_the_cap() -> None:
    class CreditAll(BaseFlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            return frame_size

    state = client(CreditAll, streams=2, max_unread=1000)
    state.receive(DataFrame(1, b"a" * 600).serialize())
    assert updates(state) == {0: 600}
    state.receive(DataFrame(3, b"b" * 600).serialize() + DataFrame(3, b"c" * 100).serialize())
    assert updates(state) == {}  # 1,300 unread: over the cap
    # Abandoning a stream drops its buffers: under the cap again.
    state.cancel(state.claim(3), 8)
    assert state.unread == 600
    assert updates(state) == {0: 700}
    assert state.consume(state.claim(1)) == (b"a" * 600, True)
    assert updates(state) == {1: 600}


def test_the_server_may_not_exceed_the_connection_window_either() -> None:
    """Streams with all the window they want, a connection never credited:
    the byte past the connection window is a FLOW_CONTROL_ERROR."""

    class StreamsOnly(FlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            if self.initial_window_size == DEFAULT_CONNECTION_WINDOW:
                return 0
            return MAX_WINDOW_SIZE

    state = client(StreamsOnly)
    state.receive(data(1, 1))
    state.consume(state.streams[1])
    assert state.h2.streams[1]._inbound_window_manager.current_window_size == MAX_WINDOW_SIZE
    state.receive(data(1, DEFAULT_CONNECTION_WINDOW - 1))
    assert state.failure is None
    state.receive(data(1, 1))
    assert isinstance(state.failure, HTTP2ConnectionError)
    assert state.failure.error_code == 3  # FLOW_CONTROL_ERROR
