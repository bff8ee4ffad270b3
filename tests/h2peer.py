"""A scripted HTTP/2 server for testing hyper's client against odd servers.

Theory of operation: :class:`ScriptedPeer` listens on 127.0.0.1 (a free
port), accepts exactly one connection in a thread and runs a *script* on it:
a list of steps, each a callable taking the :class:`PeerSession`. The module's
step builders (:func:`handshake`, :func:`expect_request`, :func:`respond`,
:func:`send_data`, :func:`send_raw`, :func:`close`, ...) cover the usual
moves; :func:`call` runs any function for the rest.

* Sending: frames are built with hyperframe, header blocks with one
  connection-wide hpack encoder, hostile bytes with :func:`raw_frame`. A step's
  bytes are queued and written when the step ends: in one ``sendall`` with
  ``feed="whole"``, or one byte per ``send`` with ``feed="bytewise"`` (with
  TCP_NODELAY, so the client really sees them one at a time).
* Receiving: every frame the client sends is parsed with hyperframe and kept
  in :attr:`ScriptedPeer.frames`, in order. HEADERS + CONTINUATION runs are
  decoded at once (hpack state is per connection) into :class:`HeaderBlock`.
  Frames and blocks not yet matched by an ``expect`` step wait in a pending
  list, so expectations do not depend on the order of unrelated frames.
* Ending: when the script is done the peer reads (and records) until the
  client closes the connection, so the test must close its client before
  :meth:`ScriptedPeer.join`. Every wait has a timeout; a failure in the
  thread is kept and re-raised by :meth:`ScriptedPeer.join` as
  :class:`PeerError`, never swallowed.
"""

from __future__ import annotations

import contextlib
import enum
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, Union

import hpack
from h2.errors import ErrorCodes
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    PushPromiseFrame,
    RstStreamFrame,
    SettingsFrame,
    WindowUpdateFrame,
)

__all__ = [
    "PREFACE",
    "ErrorCodes",
    "Feed",
    "HeaderBlock",
    "PeerError",
    "PeerSession",
    "ScriptedPeer",
    "Step",
    "StreamRef",
    "call",
    "close",
    "expect_frame",
    "expect_goaway",
    "expect_preface",
    "expect_request",
    "expect_rst",
    "expect_settings_ack",
    "handshake",
    "push_headers",
    "raw_frame",
    "respond",
    "send",
    "send_data",
    "send_goaway",
    "send_headers",
    "send_ping",
    "send_push_promise",
    "send_raw",
    "send_rst",
    "send_settings",
    "send_window_update",
    "wait_event",
]

#: RFC 9113 section 3.4: the client connection preface starts with this.
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#: RFC 9113 section 6.5.2: SETTINGS_MAX_FRAME_SIZE's initial value.
DEFAULT_MAX_FRAME_SIZE = 16384
#: RFC 9113 section 6.9.2: the initial flow-control window of a stream and of the connection.
DEFAULT_WINDOW = 65535

DEFAULT_STEP_TIMEOUT = 5.0

# Frame type codes (RFC 9113 section 6), for raw frames.
TYPE_DATA = 0x0
TYPE_HEADERS = 0x1
TYPE_RST_STREAM = 0x3
TYPE_SETTINGS = 0x4
TYPE_PUSH_PROMISE = 0x5
TYPE_PING = 0x6
TYPE_GOAWAY = 0x7
TYPE_WINDOW_UPDATE = 0x8
TYPE_CONTINUATION = 0x9

#: A stream named by an earlier :func:`expect_request` step, or a number.
StreamRef = Union[int, str]
HeaderList = Sequence[tuple[str, str]]
Step = Callable[["PeerSession"], None]
Received = Union[Frame, "HeaderBlock"]
T = TypeVar("T")
F = TypeVar("F", bound=Frame)


class PeerError(AssertionError):
    """The peer's script failed: what the client did is not what it expected."""


class Feed(enum.Enum):
    WHOLE = "whole"
    BYTEWISE = "bytewise"


class _Ending(enum.Enum):
    OPEN = "open"
    # We sent FIN; the client may still send until it closes.
    HALF_CLOSED = "half closed"
    CLOSED = "closed"


@dataclass
class HeaderBlock:
    """One decoded HEADERS (+ CONTINUATION) run the client sent."""

    stream_id: int
    headers: list[tuple[str, str]]
    end_stream: bool
    frames: list[Frame] = field(default_factory=list)

    def get(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def get_all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    @property
    def method(self) -> str | None:
        return self.get(":method")

    @property
    def path(self) -> str | None:
        return self.get(":path")

    @property
    def authority(self) -> str | None:
        return self.get(":authority")

    @property
    def scheme(self) -> str | None:
        return self.get(":scheme")


def raw_frame(
    frame_type: int, flags: int, stream_id: int, payload: bytes, *, length: int | None = None
) -> bytes:
    """Serialize a frame by hand, for frames hyperframe refuses to build
    (e.g. DATA on stream 0) or a header whose length lies."""
    if length is None:
        length = len(payload)
    header = struct.pack(">I", length)[1:] + struct.pack(
        ">BBL", frame_type, flags, stream_id & 0x7FFFFFFF
    )
    return header + payload


def push_headers(
    request: HeaderBlock, path: str, authority: str | None = None
) -> list[tuple[str, str]]:
    """The request headers of a push promised on ``request`` (same origin unless ``authority``)."""
    return [
        (":method", "GET"),
        (":scheme", request.scheme or "http"),
        (":authority", authority if authority is not None else (request.authority or "")),
        (":path", path),
    ]


class PeerSession:
    """The live connection, as seen by the steps (runs in the peer's thread)."""

    def __init__(self, sock: socket.socket, feed: Feed, step_timeout: float) -> None:
        self.sock = sock
        self.feed = feed
        self.step_timeout = step_timeout
        self.encoder = hpack.Encoder()
        # Generous: the peer must be able to read whatever the client sends.
        self.decoder = hpack.Decoder(max_header_list_size=1 << 24)
        self.frames: list[Frame] = []
        self.blocks: list[HeaderBlock] = []
        self.pending: list[Received] = []
        self.named: dict[str, HeaderBlock] = {}
        self.client_settings: dict[int, int] = {}
        self.server_settings: dict[int, int] = {}
        self.eof = False
        self.send_failed = False
        self.ending = _Ending.OPEN
        self._inbuf = bytearray()
        self._outbuf = bytearray()
        self._preface_seen = False
        self._open_block: tuple[Frame, list[Frame], bytearray] | None = None

    # -- naming -----------------------------------------------------------------

    def stream(self, ref: StreamRef) -> int:
        if isinstance(ref, int):
            return ref
        if ref not in self.named:
            raise PeerError(f"script error: no request named {ref!r} (have {sorted(self.named)})")
        return self.named[ref].stream_id

    @property
    def client_max_frame_size(self) -> int:
        return self.client_settings.get(SettingsFrame.MAX_FRAME_SIZE, DEFAULT_MAX_FRAME_SIZE)

    # -- sending ----------------------------------------------------------------

    def queue(self, data: bytes) -> None:
        self._outbuf += data

    def queue_frame(self, frame: Frame) -> None:
        self.queue(frame.serialize())

    def encode(self, headers: HeaderList) -> bytes:
        return self.encoder.encode(list(headers), huffman=True)

    def queue_header_block(
        self,
        first: HeadersFrame | PushPromiseFrame,
        block: bytes,
        fragment_size: int | None,
    ) -> None:
        """Queue ``first`` carrying ``block``, split into CONTINUATION frames
        of at most ``fragment_size`` bytes (default: the client's max frame size)."""
        size = fragment_size or self.client_max_frame_size
        if size <= 0:
            raise PeerError("script error: fragment size must be positive")
        first.data = block[:size]
        rest = block[size:]
        if not rest:
            first.flags.add("END_HEADERS")
        self.queue_frame(first)
        while rest:
            piece, rest = rest[:size], rest[size:]
            cont = ContinuationFrame(first.stream_id, piece)
            if not rest:
                cont.flags.add("END_HEADERS")
            self.queue_frame(cont)

    def flush(self, tolerate_close: bool = False) -> None:
        """Write what the step queued, whole or byte by byte."""
        data, self._outbuf = bytes(self._outbuf), bytearray()
        if not data:
            return
        try:
            if self.feed is Feed.WHOLE:
                self.sock.sendall(data)
            else:
                for i in range(len(data)):
                    self.sock.sendall(data[i : i + 1])
        except (BrokenPipeError, ConnectionResetError, ssl.SSLEOFError) as exc:
            if not tolerate_close:
                raise PeerError(
                    f"the client closed the connection while the peer was sending: {exc!r}"
                ) from exc
            # What the client sent before closing may still be readable.
            self.send_failed = True

    # -- receiving --------------------------------------------------------------

    def _recv_some(self, deadline: float) -> bool:
        """Read once, until ``deadline``. False on EOF or timeout."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self.sock.settimeout(min(remaining, 0.5))
        try:
            chunk = self.sock.recv(65536)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        except OSError:  # reset, or TLS torn down: the client is gone
            self.eof = True
            return False
        if not chunk:
            self.eof = True
            return False
        self._inbuf += chunk
        return True

    def _parse_available(self) -> None:
        if not self._preface_seen:
            if len(self._inbuf) < len(PREFACE):
                if not PREFACE.startswith(bytes(self._inbuf)):
                    raise PeerError(
                        f"the client did not send the HTTP/2 preface: {bytes(self._inbuf)!r}"
                    )
                return
            if bytes(self._inbuf[: len(PREFACE)]) != PREFACE:
                raise PeerError(
                    f"the client did not send the HTTP/2 preface: {bytes(self._inbuf[:24])!r}"
                )
            del self._inbuf[: len(PREFACE)]
            self._preface_seen = True
        while len(self._inbuf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(bytes(self._inbuf[:9])))
            if len(self._inbuf) < 9 + length:
                return
            body = bytes(self._inbuf[9 : 9 + length])
            del self._inbuf[: 9 + length]
            try:
                frame.parse_body(memoryview(body))
            except Exception as exc:  # hyperframe's errors: the client sent a malformed frame
                raise PeerError(f"the client sent a malformed frame {frame!r}: {exc!r}") from exc
            self._record(frame)

    def _record(self, frame: Frame) -> None:
        self.frames.append(frame)
        if self._open_block is not None:
            if (
                not isinstance(frame, ContinuationFrame)
                or frame.stream_id != self._open_block[0].stream_id
            ):
                raise PeerError(
                    f"the client interleaved {frame!r} inside a header block "
                    "(RFC 9113 section 6.10)"
                )
            self._open_block[1].append(frame)
            self._open_block[2].extend(frame.data)
            if "END_HEADERS" in frame.flags:
                self._finish_block()
            return
        if isinstance(frame, HeadersFrame):
            self._open_block = (frame, [frame], bytearray(frame.data))
            if "END_HEADERS" in frame.flags:
                self._finish_block()
            return
        if isinstance(frame, ContinuationFrame):
            raise PeerError(f"the client sent CONTINUATION outside a header block: {frame!r}")
        if (
            isinstance(frame, SettingsFrame)
            and "ACK" not in frame.flags
            and not self.client_settings
        ):
            self.client_settings = dict(frame.settings)
            table_size = frame.settings.get(SettingsFrame.HEADER_TABLE_SIZE)
            if table_size is not None:
                self.encoder.header_table_size = table_size
        self.pending.append(frame)

    def _finish_block(self) -> None:
        assert self._open_block is not None
        first, frames, data = self._open_block
        self._open_block = None
        headers = [(str(k), str(v)) for k, v in self.decoder.decode(bytes(data), raw=False)]
        block = HeaderBlock(first.stream_id, headers, "END_STREAM" in first.flags, frames)
        self.blocks.append(block)
        self.pending.append(block)

    def expect(
        self, matches: Callable[[Received], bool], what: str, timeout: float | None = None
    ) -> Received:
        """Take the first pending item that ``matches``, reading until one arrives."""
        deadline = time.monotonic() + (self.step_timeout if timeout is None else timeout)
        while True:
            for index, item in enumerate(self.pending):
                if matches(item):
                    del self.pending[index]
                    return item
            if self.eof:
                raise PeerError(
                    f"the client closed the connection before sending {what}; got {self.pending!r}"
                )
            if time.monotonic() >= deadline:
                raise PeerError(f"timed out waiting for {what}; pending: {self.pending!r}")
            if self._recv_some(deadline):
                self._parse_available()

    def expect_type(
        self, kind: type[T], what: str, pred: Callable[[T], bool] = lambda _: True
    ) -> T:
        item = self.expect(lambda i: isinstance(i, kind) and pred(i), what)
        assert isinstance(item, kind)
        return item

    def drain_until_closed(self, timeout: float) -> None:
        """Record everything until the client closes (EOF), or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() >= deadline:
                raise PeerError(f"the client did not close the connection within {timeout} s")
            if self._recv_some(deadline):
                self._parse_available()


# -- step builders ------------------------------------------------------------------


def call(fn: Callable[[PeerSession], object]) -> Step:
    """Any custom step."""

    def step(session: PeerSession) -> None:
        fn(session)

    return step


def send(*steps: Step) -> Step:
    """Several sending steps written together (one ``sendall`` when whole)."""

    def step(session: PeerSession) -> None:
        for inner in steps:
            inner(session)

    return step


def expect_preface() -> Step:
    """The client's preface and its first SETTINGS frame."""

    def step(session: PeerSession) -> None:
        session.expect_type(SettingsFrame, "the client's SETTINGS", lambda f: "ACK" not in f.flags)

    return step


def send_settings(settings: dict[int, int] | None = None, *, ack: bool = False) -> Step:
    def step(session: PeerSession) -> None:
        frame = SettingsFrame(0)
        if ack:
            frame.flags.add("ACK")
        else:
            frame.settings = dict(settings or {})
            session.server_settings.update(frame.settings)
        session.queue_frame(frame)

    return step


def expect_settings_ack() -> Step:
    def step(session: PeerSession) -> None:
        session.expect_type(SettingsFrame, "a SETTINGS ACK", lambda f: "ACK" in f.flags)

    return step


def handshake(
    settings: dict[int, int] | None = None,
    *,
    connection_window: int = 0,
    wait_ack: bool = False,
) -> Step:
    """Read the client's preface and SETTINGS; send ours and ACK theirs.

    ``connection_window`` > 0 adds a WINDOW_UPDATE on stream 0 so the client
    may send more than 65,535 bytes in total. With ``wait_ack`` the step also
    waits for the client's ACK of our SETTINGS.
    """

    def step(session: PeerSession) -> None:
        expect_preface()(session)
        send_settings(settings)(session)
        send_settings(ack=True)(session)
        if connection_window:
            send_window_update(0, connection_window)(session)
        session.flush()
        if wait_ack:
            expect_settings_ack()(session)

    return step


def expect_request(name: str | None = None, path: str | None = None) -> Step:
    """A request's HEADERS (a block on a new stream), remembered under ``name``."""

    def step(session: PeerSession) -> None:
        known = {b.stream_id for b in session.named.values()}

        def is_request(item: Received) -> bool:
            return (
                isinstance(item, HeaderBlock)
                and item.method is not None
                and item.stream_id not in known
                and (path is None or item.path == path)
            )

        block = session.expect(is_request, f"a request HEADERS{' for ' + path if path else ''}")
        assert isinstance(block, HeaderBlock)
        session.named[name or f"#{len(session.named)}"] = block

    return step


def expect_frame(
    kind: type[F],
    stream: StreamRef | None = None,
    pred: Callable[[F], bool] | None = None,
) -> Step:
    """A frame of ``kind`` (on ``stream`` if given) for which ``pred`` holds."""

    def step(session: PeerSession) -> None:
        stream_id = None if stream is None else session.stream(stream)

        def matches(frame: F) -> bool:
            return (stream_id is None or frame.stream_id == stream_id) and (
                pred is None or pred(frame)
            )

        session.expect_type(kind, f"{kind.__name__} on stream {stream_id}", matches)

    return step


def expect_rst(stream: StreamRef, codes: Iterable[int]) -> Step:
    """RST_STREAM on ``stream`` with one of ``codes``."""
    allowed = set(codes)

    def step(session: PeerSession) -> None:
        stream_id = session.stream(stream)
        frame = session.expect_type(
            RstStreamFrame, f"RST_STREAM on stream {stream_id}", lambda f: f.stream_id == stream_id
        )
        if frame.error_code not in allowed:
            raise PeerError(
                f"RST_STREAM on stream {stream_id} has code {frame.error_code}, "
                f"expected one of {sorted(allowed)}"
            )

    return step


def expect_goaway(codes: Iterable[int]) -> Step:
    """A GOAWAY with one of ``codes``."""
    allowed = set(codes)

    def step(session: PeerSession) -> None:
        frame = session.expect_type(GoAwayFrame, "GOAWAY")
        if frame.error_code not in allowed:
            raise PeerError(
                f"GOAWAY has code {frame.error_code}, expected one of {sorted(allowed)}"
            )

    return step


def send_headers(
    stream: StreamRef,
    headers: HeaderList,
    *,
    end_stream: bool = False,
    fragment_size: int | None = None,
    pad: int = 0,
) -> Step:
    """HEADERS (split into CONTINUATIONs of ``fragment_size`` bytes if given)."""

    def step(session: PeerSession) -> None:
        frame = HeadersFrame(session.stream(stream))
        if end_stream:
            frame.flags.add("END_STREAM")
        if pad:
            frame.flags.add("PADDED")
            frame.pad_length = pad
        session.queue_header_block(frame, session.encode(headers), fragment_size)

    return step


def send_data(
    stream: StreamRef, data: bytes, *, end_stream: bool = False, pad: int | None = None
) -> Step:
    """One DATA frame; ``pad`` (0-255) sets the PADDED flag and that many padding bytes."""

    def step(session: PeerSession) -> None:
        frame = DataFrame(session.stream(stream), data)
        if end_stream:
            frame.flags.add("END_STREAM")
        if pad is not None:
            frame.flags.add("PADDED")
            frame.pad_length = pad
        session.queue_frame(frame)

    return step


def respond(
    stream: StreamRef,
    body: bytes | Sequence[bytes] = b"",
    *,
    status: int = 200,
    headers: HeaderList = (),
    trailers: HeaderList | None = None,
) -> Step:
    """A whole response: HEADERS, DATA (a bytes body is split at the client's
    max frame size; a list is sent one frame per item), optional trailers."""

    def step(session: PeerSession) -> None:
        stream_id = session.stream(stream)
        if isinstance(body, bytes):
            size = session.client_max_frame_size
            chunks = [body[i : i + size] for i in range(0, len(body), size)]
        else:
            chunks = list(body)
        no_body_frames = not chunks and trailers is None
        send_headers(stream_id, [(":status", str(status)), *headers], end_stream=no_body_frames)(
            session
        )
        for index, chunk in enumerate(chunks):
            last = index == len(chunks) - 1
            send_data(stream_id, chunk, end_stream=last and trailers is None)(session)
        if trailers is not None:
            send_headers(stream_id, trailers, end_stream=True)(session)

    return step


def send_push_promise(
    stream: StreamRef,
    promised: int,
    headers: HeaderList | Callable[[PeerSession], HeaderList],
    *,
    fragment_size: int | None = None,
) -> Step:
    """PUSH_PROMISE on ``stream`` for ``promised``; ``headers`` may be computed
    from the session (e.g. ``lambda s: push_headers(s.named["r"], "/x")``)."""

    def step(session: PeerSession) -> None:
        block = headers(session) if callable(headers) else headers
        frame = PushPromiseFrame(session.stream(stream), promised_stream_id=promised)
        session.queue_header_block(frame, session.encode(block), fragment_size)

    return step


def send_rst(stream: StreamRef, error_code: int) -> Step:
    def step(session: PeerSession) -> None:
        session.queue_frame(RstStreamFrame(session.stream(stream), error_code=error_code))

    return step


def send_goaway(
    last_stream_id: StreamRef, error_code: int = ErrorCodes.NO_ERROR, debug: bytes = b""
) -> Step:
    def step(session: PeerSession) -> None:
        session.queue_frame(
            GoAwayFrame(
                0,
                last_stream_id=session.stream(last_stream_id),
                error_code=error_code,
                additional_data=debug,
            )
        )

    return step


def send_window_update(stream: StreamRef, increment: int) -> Step:
    def step(session: PeerSession) -> None:
        session.queue_frame(WindowUpdateFrame(session.stream(stream), window_increment=increment))

    return step


def send_ping(data: bytes, *, ack: bool = False) -> Step:
    def step(session: PeerSession) -> None:
        frame = PingFrame(0, data)
        if ack:
            frame.flags.add("ACK")
        session.queue_frame(frame)

    return step


def send_raw(data: bytes, *, tolerate_close: bool = False) -> Step:
    """Bytes as they are. ``tolerate_close``: the client may close the
    connection while they are written (it rejects them midway)."""

    def step(session: PeerSession) -> None:
        session.queue(data)
        session.flush(tolerate_close=tolerate_close)

    return step


def wait_event(event: threading.Event, timeout: float | None = None) -> Step:
    """Wait until the test sets ``event`` (reading nothing meanwhile)."""

    def step(session: PeerSession) -> None:
        if not event.wait(session.step_timeout if timeout is None else timeout):
            raise PeerError("timed out waiting for the test's event")

    return step


def close(how: str = "fin") -> Step:
    """Close the connection: ``"fin"`` (shutdown for writing; the peer still
    reads until the client closes) or ``"rst"`` (SO_LINGER 0, a TCP RST)."""
    if how not in ("fin", "rst"):
        raise ValueError(how)

    def step(session: PeerSession) -> None:
        session.flush(tolerate_close=True)
        if how == "rst":
            session.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            session.sock.close()
            session.ending = _Ending.CLOSED
            return
        try:
            # The TCP-level shutdown, also under TLS (no close_notify: the
            # abrupt end a crashing server gives). SSLSocket.shutdown would
            # drop the TLS state we still need to read the client's frames.
            socket.socket.shutdown(session.sock, socket.SHUT_WR)
        except OSError:
            session.eof = True
        session.ending = _Ending.HALF_CLOSED

    return step


# -- the server ---------------------------------------------------------------------


class ScriptedPeer:
    """One scripted HTTP/2 server connection on 127.0.0.1.

    ``tls``: a server :class:`ssl.SSLContext` (ALPN ``h2`` is set on it);
    ``None`` for cleartext h2c with prior knowledge.
    """

    def __init__(
        self,
        script: Sequence[Step],
        *,
        feed: Feed | str = Feed.WHOLE,
        tls: ssl.SSLContext | None = None,
        step_timeout: float = DEFAULT_STEP_TIMEOUT,
        close_timeout: float = DEFAULT_STEP_TIMEOUT,
    ) -> None:
        self.script = list(script)
        self.feed = Feed(feed)
        self.tls = tls
        if tls is not None:
            tls.set_alpn_protocols(["h2"])
        self.step_timeout = step_timeout
        self.close_timeout = close_timeout
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self.port: int = self._listener.getsockname()[1]
        self.error: BaseException | None = None
        self.session: PeerSession | None = None
        self.alpn: str | None = None
        self.steps_done = 0
        self._thread = threading.Thread(target=self._run, name=f"h2peer:{self.port}", daemon=True)
        self._joined = False

    # -- results (read after join) ------------------------------------------------

    @property
    def frames(self) -> list[Frame]:
        return self.session.frames if self.session else []

    @property
    def blocks(self) -> list[HeaderBlock]:
        return self.session.blocks if self.session else []

    @property
    def client_settings(self) -> dict[int, int]:
        return self.session.client_settings if self.session else {}

    @property
    def requests(self) -> dict[str, HeaderBlock]:
        return self.session.named if self.session else {}

    def frames_of(self, kind: type[T], stream_id: int | None = None) -> list[T]:
        return [
            f
            for f in self.frames
            if isinstance(f, kind) and (stream_id is None or f.stream_id == stream_id)
        ]

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> ScriptedPeer:
        self._thread.start()
        return self

    def __enter__(self) -> ScriptedPeer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.join(raise_error=exc_info[0] is None)

    def join(self, timeout: float = 30.0, *, raise_error: bool = True) -> None:
        """Wait for the thread to end; re-raise its failure as PeerError."""
        if not self._joined:
            self._thread.join(timeout)
            if self._thread.is_alive():
                self.abort()
                self._thread.join(5.0)
                if self.error is None:
                    self.error = PeerError(f"the peer thread did not finish within {timeout} s")
            self._joined = True
        if raise_error and self.error is not None:
            error, self.error = self.error, None
            if isinstance(error, PeerError):
                raise error
            raise PeerError(f"the peer failed in step {self.steps_done}: {error!r}") from error

    def abort(self) -> None:
        """Close the sockets, ending the thread (used when a test gives up)."""
        self._listener.close()
        if self.session is not None:
            with contextlib.suppress(OSError):
                self.session.sock.close()

    def _run(self) -> None:
        conn: socket.socket | None = None
        try:
            self._listener.settimeout(self.step_timeout)
            try:
                conn, _ = self._listener.accept()
            except socket.timeout as exc:
                raise PeerError(f"no client connected within {self.step_timeout} s") from exc
            finally:
                self._listener.close()
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.tls is not None:
                conn.settimeout(self.step_timeout)
                conn = self.tls.wrap_socket(conn, server_side=True)
                self.alpn = conn.selected_alpn_protocol()
                if self.alpn != "h2":
                    raise PeerError(f"the client did not negotiate h2 by ALPN (got {self.alpn!r})")
            session = PeerSession(conn, self.feed, self.step_timeout)
            self.session = session
            for step in self.script:
                step(session)
                session.flush()
                self.steps_done += 1
            if session.ending is not _Ending.CLOSED:
                session.drain_until_closed(self.close_timeout)
        except BaseException as exc:  # re-raised by join() in the test's thread
            self.error = exc
        finally:
            if self.session is not None:
                conn = self.session.sock
            if conn is not None:
                try:
                    if self.error is not None:
                        # Fail the client fast rather than let it wait for its timeout.
                        conn.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                    conn.close()
                except OSError:
                    pass


def server_tls_context(cert_path: str, key_path: str) -> ssl.SSLContext:
    """A server context for the peer from PEM files (ALPN is set by the peer)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


# -- glue for hyper's tests -----------------------------------------------------------


class Harness:
    """Peers and hyper clients of one test; :meth:`finish` closes the clients
    and joins the peers, re-raising their failures."""

    def __init__(self, feed: Feed | str) -> None:
        self.feed = Feed(feed)
        self.peers: list[ScriptedPeer] = []
        self.clients: list[Any] = []
        self._finished = False

    def start(self, script: Sequence[Step], **kwargs: object) -> ScriptedPeer:
        peer = ScriptedPeer(script, feed=self.feed, **kwargs)  # type: ignore[arg-type]
        self.peers.append(peer)
        return peer.start()

    def client(self, peer: ScriptedPeer, **kwargs: Any) -> Any:
        """``hyper.HTTP20Connection`` to ``peer``: h2c with prior knowledge, 5 s timeout."""
        from hyper import HTTP20Connection

        kwargs.setdefault("timeout", 5)
        return self.track(HTTP20Connection("127.0.0.1", peer.port, secure=False, **kwargs))

    def track(self, conn: T) -> T:
        self.clients.append(conn)
        return conn

    def finish(self) -> None:
        self._finished = True
        for conn in self.clients:
            conn.close()
        for peer in self.peers:
            peer.join()

    def teardown(self) -> None:
        """After a test that failed before :meth:`finish`: end everything and
        show (not raise) what the peers saw, next to the test's own failure."""
        if self._finished:
            return
        for conn in self.clients:
            try:
                conn.close()
            except Exception as exc:
                print(f"closing the client raised {exc!r}")
        for peer in self.peers:
            peer.join(timeout=10, raise_error=False)
            if peer.error is not None:
                print(
                    f"peer on port {peer.port} failed after step {peer.steps_done}: {peer.error!r}"
                )
            print(f"peer on port {peer.port} received: {peer.frames!r}")


def hget(headers: Any, name: str) -> bytes | None:
    """The single value of ``name`` in a hyper header map (None when absent)."""
    values = headers.get(name)
    if not values:
        return None
    assert len(values) == 1, f"{name} has several values: {values!r}"
    value = values[0]
    assert isinstance(value, bytes)
    return value
