"""What hyper configures in h2, and its two work-arounds.

GOAWAY. h2 moves its connection state machine to CLOSED as soon as a GOAWAY
arrives, and then rejects every later frame as a protocol error. But RFC 9113
section 6.8 lets the server finish the streams up to ``last_stream_id`` after
a graceful GOAWAY: "the sender of the GOAWAY frame ... can still complete
processing of streams with identifiers lower or equal to the last stream
identifier". nginx does exactly that when ``keepalive_requests`` runs out.
So hyper gives each h2 connection a transition table that accepts the frames
of those streams in the CLOSED state; hyper itself never opens a stream after
GOAWAY (it tracks that on its own), and it drops the connection after a
GOAWAY that carries an error.

DATA frames' repr. For every frame it receives, h2 formats ``repr(frame)``
for its trace log, whether anything logs or not, and hyperframe's DataFrame
repr hex-encodes the whole payload to show ten bytes of it: a fifth of the
CPU time of a large download. Each hyper connection's frame buffer hands h2
its received DATA frames as a subclass whose repr gives the payload's length
instead (and h2's per-connection dispatch table learns that class). Nothing
global changes: other h2 users in the process are unaffected.

Both reach into h2's private parts (its connection state machine's
transition table, its frame dispatch table, its frame buffer), so hyper is
tested with, and setup.cfg allows, only the h2 releases :data:`SUPPORTED_H2`
names. At import :func:`check_h2` makes sure the installed h2 still has
those parts in the shape the work-arounds expect, and raises ImportError
saying which version to install if not: a quiet mismatch would break
GOAWAY handling or every DATA frame in ways far from their cause.
"""

from __future__ import annotations

import logging
from typing import Any

import h2.config
import h2.connection
import h2.exceptions
import h2.settings
import hpack
from h2.connection import ConnectionInputs, ConnectionState
from h2.errors import ErrorCodes
from h2.frame_buffer import FrameBuffer
from hyperframe.frame import DataFrame, Frame

from ..exceptions import HPACKDecodingError, HTTP2ConnectionError, HyperError
from .window import DEFAULT_STREAM_WINDOW

log = logging.getLogger("hyper")

#: The h2 releases hyper is tested with; setup.cfg pins the same range.
#: (h2 4.1 to 4.3 pass check_h2() but fail hyper's tests: they send a
#: CONNECT request with a :path, which RFC 9113 section 8.5 forbids.)
SUPPORTED_H2 = "h2>=4.4,<4.5"

# The frames still exchanged while streams finish after GOAWAY (names of
# h2's ConnectionInputs, checked by check_h2()).
_AFTER_GOAWAY_NAMES = (
    "RECV_HEADERS", "RECV_DATA", "RECV_WINDOW_UPDATE", "RECV_PING", "RECV_SETTINGS",
    "RECV_RST_STREAM", "RECV_PRIORITY", "RECV_PUSH_PROMISE", "SEND_DATA",
    "SEND_WINDOW_UPDATE", "SEND_RST_STREAM", "SEND_PING", "SEND_SETTINGS",
)
_AFTER_GOAWAY = tuple(ConnectionInputs.__members__[name] for name in _AFTER_GOAWAY_NAMES
                      if name in ConnectionInputs.__members__)

# Our SETTINGS_MAX_HEADER_LIST_SIZE: generous for real responses, small
# enough that a hostile server can't make us buffer megabytes of headers.
MAX_HEADER_LIST_SIZE = 256 * 1024

# The client connection preface (RFC 9113 section 3.4), before our SETTINGS.
_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


class _FrameLogger(h2.config.DummyLogger):
    """h2's logger interface, sending h2's frame traces to the ``hyper`` logger."""

    def __init__(self) -> None:
        super().__init__()

    def debug(self, fmtstr: str, *args: Any) -> None:
        log.debug(fmtstr, *args)

    def trace(self, fmtstr: str, *args: Any) -> None:
        log.debug(fmtstr, *args)


class _ReceivedDataFrame(DataFrame):
    """A received DATA frame whose repr is cheap (see the module docstring)."""

    def __repr__(self) -> str:
        return (f"DataFrame(stream_id={self.stream_id}, flags={self.flags!r}): "
                f"<{len(self.data)} bytes of data>")


class _FrameBuffer(FrameBuffer):
    """h2's frame buffer, handing out DATA frames as _ReceivedDataFrame."""

    def __next__(self) -> Frame:
        frame = super().__next__()
        if type(frame) is not DataFrame:
            return frame
        # A copy of the fields (the payload is shared, not copied), rather
        # than assigning __class__ on a live object.
        received = _ReceivedDataFrame(frame.stream_id, frame.data, pad_length=frame.pad_length,
                                      flags=frame.flags)
        received.body_len = frame.body_len
        return received


def new_h2_connection(enable_push: bool) -> h2.connection.H2Connection:
    """A client-side h2 connection with hyper's settings (not yet initiated)."""
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=True,
        normalize_outbound_headers=True,
        validate_inbound_headers=True,
        normalize_inbound_headers=True,
        logger=_FrameLogger() if log.isEnabledFor(logging.DEBUG) else None,
    )
    conn = h2.connection.H2Connection(config=config)
    conn.local_settings = h2.settings.Settings(
        client=True,
        initial_values={
            h2.settings.SettingCodes.ENABLE_PUSH: int(enable_push),
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: DEFAULT_STREAM_WINDOW,
            h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 100 if enable_push else 0,
            h2.settings.SettingCodes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST_SIZE,
        },
    )
    # h2 applies a MAX_HEADER_LIST_SIZE to its HPACK decoder when the server
    # acknowledges a change to it; these are our initial settings, not a
    # change, so the decoder is told here (it would stop at 64 KiB).
    conn.decoder.max_header_list_size = MAX_HEADER_LIST_SIZE
    conn.incoming_buffer = _FrameBuffer(server=False)
    dispatch = conn._frame_dispatch_table
    dispatch[_ReceivedDataFrame] = dispatch[DataFrame]
    machine = conn.state_machine
    table = dict(machine._transitions)
    for frame_input in _AFTER_GOAWAY:
        table.setdefault((ConnectionState.CLOSED, frame_input), (None, ConnectionState.CLOSED))
    machine._transitions = table
    return conn


def h2_problems(conn: h2.connection.H2Connection) -> list[str]:
    """What in ``conn`` (a fresh client connection) is not as the
    work-arounds expect; empty when all is."""
    problems = []
    missing = [n for n in _AFTER_GOAWAY_NAMES if n not in ConnectionInputs.__members__]
    if missing:
        problems.append(f"ConnectionInputs lacks {', '.join(missing)}")
    transitions = getattr(conn.state_machine, "_transitions", None)
    if not isinstance(transitions, dict) or not all(
        _is_transition(transitions.get((ConnectionState.CLIENT_OPEN, frame_input)))
        for frame_input in _AFTER_GOAWAY
    ):
        problems.append("the connection state machine has no _transitions table of "
                        "(state, input) -> (function, state)")
    dispatch = getattr(conn, "_frame_dispatch_table", None)
    if not isinstance(dispatch, dict) or not callable(dispatch.get(DataFrame)):
        problems.append("the connection has no _frame_dispatch_table keyed by frame class")
    if type(getattr(conn, "incoming_buffer", None)) is not FrameBuffer:
        problems.append("the connection's incoming_buffer is not an h2.frame_buffer.FrameBuffer")
    return problems


def _is_transition(value: object) -> bool:
    return (isinstance(value, tuple) and len(value) == 2
            and (value[0] is None or callable(value[0]))
            and isinstance(value[1], ConnectionState))


def check_h2(conn: h2.connection.H2Connection | None = None) -> None:
    """Raise ImportError, saying what to install, unless the installed h2's
    private parts are as the work-arounds expect (see the module docstring)."""
    if conn is None:
        conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    problems = h2_problems(conn)
    if problems:
        version = getattr(h2, "__version__", "unknown")
        raise ImportError(
            f"hyper does not work with the installed h2 {version}: "
            f"{'; '.join(problems)}. hyper patches h2's internals and supports only "
            f"{SUPPORTED_H2}; install one with: pip install '{SUPPORTED_H2}'")


def error_name(value: int) -> str:
    """An HTTP/2 error code's name (RFC 9113 section 7), or its hex value."""
    try:
        return ErrorCodes(value).name
    except ValueError:
        return f"0x{value:x}"


def is_server_preface(head: bytes, max_frame_size: int) -> bool:
    """Whether the first 9 bytes a server sent start a SETTINGS frame that
    is not an ACK, on stream 0, of a sane length (RFC 9113 sections 3.4, 6.5)."""
    length = int.from_bytes(head[:3], "big")
    frame_type, flags = head[3], head[4]
    stream = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
    return (frame_type == 0x4 and not flags & 0x1 and stream == 0 and length % 6 == 0
            and length <= max_frame_size)


def translate_protocol_error(exc: h2.exceptions.ProtocolError) -> HyperError:
    """The one place h2's protocol errors become hyper's."""
    code = int(getattr(exc, "error_code", None) or ErrorCodes.PROTOCOL_ERROR)
    # h2 reports a header block it cannot decode as a PROTOCOL_ERROR caused
    # by hpack's exception (not as a COMPRESSION_ERROR).
    if isinstance(exc.__cause__, hpack.HPACKError):
        error: HyperError = HPACKDecodingError(
            f"The server's headers could not be decoded: {exc}", error_code=code)
    else:
        error = HTTP2ConnectionError(
            f"The server broke the HTTP/2 protocol: {exc}", error_code=code
        )
    error.__cause__ = exc
    return error


def log_frames(data: bytes) -> None:
    view = memoryview(data)
    if data.startswith(_PREFACE):
        log.debug("Sent the connection preface")
        view = view[len(_PREFACE):]
    # h2 hands out whole frames only.
    while view:
        frame, length = Frame.parse_frame_header(view[:9])
        frame.parse_body(view[9:9 + length])
        log.debug("Sent frame: %r", frame)
        view = view[9 + length:]


check_h2()
