"""HTTP20Connection: the I/O shell around h2, safe to share between threads.

Theory of operation
-------------------
* ``_lock`` guards the h2 state machine and every :class:`Stream`; it is
  never held while the socket is used.
* ``_io_lock`` serialises use of the socket. A TLS socket must not be read
  and written by two threads at once (an OpenSSL object is not thread-safe),
  so sends and receives take turns. Lock order: ``_io_lock`` before
  ``_lock``, never the reverse.
* Bytes h2 wants to send stay in h2's own outbound buffer; whoever flushes
  takes the whole buffer while holding ``_io_lock``, so frames leave in the
  order h2 produced them (HPACK state depends on that order).
* One thread at a time is the *reader*: a thread that waits for its stream
  takes the role if nobody has it, reads one batch from the socket, feeds h2
  and applies the events to the streams they belong to, then wakes every
  waiter. A frame read by one thread thus reaches the thread that waits on
  its stream. Every wait is bounded by the stream's read timeout.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from functools import partial
from typing import Any, Callable

import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

from ..common.body import BodyArg, iter_body, known_length
from ..common.timeouts import Deadline, TimeoutArg, TimeoutConfig
from ..common.transport import open_transport, proxy_config, wait_readable
from ..common.util import (
    CONNECTION_SPECIFIC_HEADERS,
    HeadersArg,
    authority,
    normalize_headers,
    split_host_port,
    to_bytestring,
)
from ..exceptions import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    HTTP2ConnectionError,
    HyperError,
    LocalProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    StreamNotProcessedError,
    StreamResetError,
    WriteTimeout,
)
from .h2glue import (
    error_name,
    is_server_preface,
    log_frames,
    new_h2_connection,
    translate_protocol_error,
)
from .streams import Headers, ResponseState, Stream, StreamInput
from .window import DEFAULT_CONNECTION_WINDOW, BaseFlowControlManager, FlowControlManager

log = logging.getLogger("hyper")

_ERROR_CODES = h2.errors.ErrorCodes

# The most a reader takes from the socket in one turn before handing the
# events to the waiting threads.
_BATCH_LIMIT = 1024 * 1024

# RFC 9113 section 3.4: the client connection preface starts with this.


class HTTP20Connection:
    """A single HTTP/2 connection to a server, shared safely by threads.

    Over TLS the server must choose ``h2`` by ALPN (unless ``force_proto``
    names the protocol); over plaintext hyper speaks h2c with prior knowledge
    (RFC 9113 section 3.3).
    """

    version = 20

    def __init__(
        self,
        host: str,
        port: int | None = None,
        secure: bool | None = None,
        window_manager: type[BaseFlowControlManager] | None = None,
        enable_push: bool = False,
        ssl_context: ssl.SSLContext | None = None,
        proxy_host: str | None = None,
        proxy_port: int | None = None,
        force_proto: str | None = None,
        proxy_headers: HeadersArg = None,
        timeout: TimeoutArg = None,
        **kwargs: Any,
    ) -> None:
        self.host, self.port = split_host_port(host, port, 443)
        self.secure = secure if secure is not None else self.port == 443
        self.authority = authority(self.host, self.port, self.secure)
        self.scheme = "https" if self.secure else "http"
        self.window_manager_class: type[BaseFlowControlManager] = (
            window_manager or FlowControlManager
        )
        self.enable_push = enable_push
        self.ssl_context = ssl_context
        self.force_proto = force_proto
        self.timeout = TimeoutConfig.from_arg(timeout)
        self.proxy = proxy_config(proxy_host, proxy_port, proxy_headers)
        #: The size of the buffer used for each read from the socket.
        self.network_buffer_size: int = int(kwargs.pop("network_buffer_size", 65536))
        self._given_sock: socket.socket | None = kwargs.pop("sock", None)
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(kwargs))}")

        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._io_lock = threading.Lock()
        self._connect_lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._h2 = new_h2_connection(enable_push)
        self._streams: dict[int, Stream] = {}
        # Streams whose response nobody has asked for yet, oldest first.
        self._unclaimed: deque[int] = deque()
        self._pending: dict[int, tuple[str, str, list[tuple[bytes, bytes]], float | None]] = {}
        self._last_put: int | None = None
        self._next_stream_id = 1
        self._reading = False
        self._going_away = False
        self._goaway_last_id: int | None = None
        self._failure: HyperError | None = None
        self._closed = False
        self._conn_window = self.window_manager_class(DEFAULT_CONNECTION_WINDOW)
        self._pings: deque[bytes] = deque()
        # Bytes taken from h2's outbound buffer but not yet sent.
        self._outbound = bytearray()
        # True once the server's first SETTINGS frame has been applied.
        self._settings_seen = False
        # The server's first bytes, until they show a SETTINGS frame.
        self._preface_pending: bytes | None = b""
        # Promised pushes by parent stream ID, kept after the parent is done.
        self._pushes: dict[int, deque[Stream]] = {}

    # ------------------------------------------------------------------
    # Connecting
    # ------------------------------------------------------------------

    def connect(self) -> None:
        """Connect to the server; a no-op if already connected. Thread-safe."""
        if self._sock is not None:
            return
        with self._connect_lock:
            if self._connected():
                return
            if self._closed:
                raise ConnectionClosed("The connection has been closed")
            sock = self._given_sock
            if sock is None:
                transport = open_transport(
                    self.host,
                    self.port,
                    secure=self.secure,
                    ssl_context=self._context() if self.secure else None,
                    proxy=self.proxy,
                    connect_timeout=self.timeout.connect,
                )
                self._check_alpn(transport.alpn, transport.sock)
                sock = transport.sock
            with self._lock:
                self._h2.initiate_connection()
                self._h2.increment_flow_control_window(DEFAULT_CONNECTION_WINDOW - 65535)
            self._sock = sock
        deadline = Deadline(self.timeout.connect)
        self._send_pending(deadline)
        # Learn the server's limits (MAX_CONCURRENT_STREAMS above all) before
        # anyone decides how many requests this connection can take. Servers
        # send their SETTINGS at once, so this costs at most a round trip.
        self._wait(self._settings_known, deadline, "the server's SETTINGS", ConnectTimeout)

    def _settings_known(self) -> bool:
        return self._settings_seen

    def _connected(self) -> bool:
        return self._sock is not None

    def _context(self) -> ssl.SSLContext:
        if self.ssl_context is None:
            from ..tls import init_context

            self.ssl_context = init_context()
        return self.ssl_context

    def _check_alpn(self, alpn: str | None, sock: socket.socket) -> None:
        if not self.secure or self.force_proto is not None or alpn == "h2":
            return
        sock.close()
        raise ConnectError(
            f"{self.authority} did not agree to HTTP/2 by ALPN (it chose {alpn!r}); "
            "use hyper.HTTPConnection to fall back to HTTP/1.1"
        )

    def _begin_upgrade(self) -> bytes:
        """Prepare an ``Upgrade: h2c`` request; return its HTTP2-Settings value.

        RFC 7540 section 3.2 (kept by RFC 9113 only as an option servers may
        support): the HTTP/1.1 request that carries the upgrade becomes
        stream 1, already half-closed from our side.
        """
        with self._lock:
            return self._h2.initiate_upgrade_connection() or b""

    def _adopt_upgrade(
        self,
        sock: socket.socket,
        leftover: bytes,
        request_headers: Headers,
        read_timeout: float | None,
    ) -> int:
        """Take over a socket after ``101 Switching Protocols``; return stream 1."""
        with self._lock:
            self._h2.increment_flow_control_window(DEFAULT_CONNECTION_WINDOW - 65535)
            # h2 did not see the request that carried the upgrade; a HEAD
            # response has no body whatever its Content-Length says.
            # (initiate_upgrade_connection() opened stream 1 in h2.)
            self._h2.streams[1].request_method = dict(request_headers).get(b":method")
            stream = self._new_stream(1, read_timeout, request_headers)
            stream.request_complete = True
            self._unclaimed.append(1)
            self._next_stream_id = 3
        self._sock = sock
        self._send_pending(Deadline(read_timeout))
        if leftover:
            self._feed(sock, leftover)
        return 1

    # ------------------------------------------------------------------
    # Sending requests
    # ------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
    ) -> int:
        """Send a request; return its stream ID. Thread-safe.

        ``body`` may be bytes, str (sent as UTF-8), a file-like object or an
        iterable of bytes. For bytes and str the Content-Length header is set.
        ``timeout`` overrides the connection's timeout for this request.
        """
        config = TimeoutConfig.from_arg(timeout) if timeout is not None else self.timeout
        queued = [(name.lower(), value) for name, value in normalize_headers(headers)]
        if isinstance(body, (bytes, str)) and not any(n == b"content-length" for n, _ in queued):
            queued.append((b"content-length", str(len(to_bytestring(body))).encode()))
        # An empty body ends the stream on HEADERS: no empty DATA frame.
        empty = known_length(body) == 0
        stream_id = self._open_stream(method, url, queued, None, empty, config.read)
        if not empty:
            self._send_body_or_abort(stream_id, iter_body(body), True, config.read)
        return stream_id

    def putrequest(self, method: str, selector: str, **kwargs: Any) -> int:
        """Start a request; headers are queued until :meth:`endheaders`.

        Requests must be ended (``endheaders``) in the order of their stream
        IDs: RFC 9113 section 5.1.1 requires new stream IDs to increase.
        """
        read_timeout = kwargs.get("timeout", self.timeout.read)
        with self._lock:
            stream_id = self._next_stream_id
            self._next_stream_id += 2
            self._pending[stream_id] = (method, selector, [], read_timeout)
            self._last_put = stream_id
        return stream_id

    def putheader(
        self,
        header: str | bytes,
        argument: str | bytes,
        stream_id: int | None = None,
        replace: bool = False,
    ) -> None:
        """Queue a header for a request started with :meth:`putrequest`.

        Connection-specific headers (Connection, Keep-Alive, Transfer-Encoding,
        Upgrade, Proxy-Connection) are dropped: RFC 9113 section 8.2.2 forbids
        them in HTTP/2. Host becomes :authority.
        """
        (name, value), = normalize_headers([(header, argument)])
        name = name.lower()
        with self._lock:
            pending = self._pending_for(stream_id)
            if replace:
                pending[:] = [(n, v) for n, v in pending if n != name]
            pending.append((name, value))

    def endheaders(
        self,
        message_body: BodyArg = None,
        final: bool = False,
        stream_id: int | None = None,
    ) -> None:
        """Send the queued headers, then ``message_body`` if given.

        With ``final`` (or a body) the request ends; otherwise more data
        follows through :meth:`send`.
        """
        with self._lock:
            sid = self._resolve_pending(stream_id)
            method, selector, queued, read_timeout = self._pending.pop(sid)
        end_now = final and message_body is None
        self._open_stream(method, selector, queued, sid, end_now, read_timeout)
        if message_body is not None:
            self._send_body_or_abort(sid, iter_body(message_body), final, read_timeout)

    def _open_stream(
        self,
        method: str,
        selector: str,
        queued: Headers,
        stream_id: int | None,
        end_now: bool,
        read_timeout: float | None,
    ) -> int:
        """Send a request's HEADERS; ``stream_id`` None allocates the next ID
        under the same lock, so concurrent requests never send IDs out of order."""
        self.connect()
        headers = self._build_headers(method, selector, queued)
        deadline = Deadline(read_timeout)
        while True:
            with self._lock:
                # Checking and sending under one lock keeps us in the limit
                # when other threads open streams too.
                if self._has_room():
                    stream_id = self._send_headers_locked(stream_id, headers, end_now,
                                                          read_timeout)
                    break
            self._wait(self._has_room, deadline, "a free stream slot", WriteTimeout)
        self._send_pending(deadline)
        return stream_id

    def _send_headers_locked(
        self, stream_id: int | None, headers: Headers, end_now: bool,
        read_timeout: float | None,
    ) -> int:
        if stream_id is None:
            stream_id = self._next_stream_id
            self._next_stream_id += 2
        self._check_can_open(stream_id)
        try:
            self._h2.send_headers(stream_id, headers, end_stream=end_now)
        except h2.exceptions.StreamIDTooLowError as exc:
            raise LocalProtocolError(
                f"Stream {stream_id} must be sent before streams opened after it"
            ) from exc
        except h2.exceptions.ProtocolError as exc:
            # (Not TooManyStreamsError: _has_room() checked h2's own limit
            # under this lock.) h2 refuses invalid headers only while it
            # encodes them, when its HPACK encoder has already changed: the
            # server's decoder no longer matches, so no request may start
            # here any more (those in flight go on).
            self._going_away = True
            self._cond.notify_all()
            raise LocalProtocolError(
                f"Request cannot be sent: {exc}", stream_id=stream_id) from exc
        stream = self._new_stream(stream_id, read_timeout, headers)
        stream.request_complete = end_now
        self._unclaimed.append(stream_id)
        return stream_id

    def send(self, data: BodyArg, final: bool = False, stream_id: int | None = None) -> None:
        """Send (more of) a request body, within the server's flow-control window."""
        with self._lock:
            sid = stream_id if stream_id is not None else self._last_put
            stream = self._streams.get(sid) if sid is not None else None
            if stream is None or stream.request_complete:
                raise LocalProtocolError(f"No open request on stream {sid} to send data on")
        self._send_body(stream.stream_id, iter_body(data), final, stream.read_timeout)

    def _build_headers(self, method: str, selector: str, queued: Headers) -> Headers:
        authority_value = self.authority.encode()
        rest: Headers = []
        for name, value in queued:
            if name == b"host":
                authority_value = value
            elif name in CONNECTION_SPECIFIC_HEADERS:
                continue
            elif name == b"te" and value.lower() != b"trailers":
                # RFC 9113 section 8.2.2: TE may only carry "trailers".
                continue
            else:
                rest.append((name, value))
        return [
            (b":method", method.encode("ascii")),
            (b":scheme", self.scheme.encode("ascii")),
            (b":authority", authority_value),
            (b":path", selector.encode("utf-8") if selector else b"/"),
            *rest,
        ]

    def _send_body_or_abort(
        self, stream_id: int, chunks: Iterator[bytes], final: bool, read_timeout: float | None
    ) -> None:
        """Send the body; if that fails (the body's own iterator raised, a
        write timed out), reset the stream with CANCEL (RFC 9113 section
        5.4.2) so that it neither holds a stream slot nor leaves the server
        waiting for the rest, then re-raise."""
        try:
            self._send_body(stream_id, chunks, final, read_timeout)
        except BaseException:
            self._abort_upload(stream_id)
            raise

    def _abort_upload(self, stream_id: int) -> None:
        with self._lock:
            stream = self._streams.pop(stream_id, None)
            with contextlib.suppress(ValueError):  # its response may be claimed
                self._unclaimed.remove(stream_id)
            if stream is None or self._sock is None or self._failure is not None:
                return
            stream.fail(ConnectionClosed("The request body could not be sent",
                                         stream_id=stream_id))
            # (A stream already closed in h2, by the server's reset or by both
            # ends finishing, needs nothing more.)
            with contextlib.suppress(h2.exceptions.StreamClosedError):
                self._h2.reset_stream(stream_id, _ERROR_CODES.CANCEL)
        self._send_pending(Deadline(self.timeout.read), quiet=True)

    def _send_body(
        self, stream_id: int, chunks: Iterator[bytes], final: bool, read_timeout: float | None
    ) -> None:
        """Send the body in frames as large as the window and frame size allow.

        A one-chunk lookahead lets END_STREAM ride on the last DATA frame.
        """
        current = next(chunks, None)
        while current is not None:
            upcoming = next(chunks, None)
            last = final and upcoming is None
            self._send_chunk(stream_id, memoryview(current), last, read_timeout)
            current = upcoming
        if final:
            with self._lock:
                stream = self._streams.get(stream_id)
                if stream is not None and not stream.request_complete:
                    self._end_stream(stream)
            self._send_pending(Deadline(read_timeout))

    def _send_chunk(
        self, stream_id: int, view: memoryview, last: bool, read_timeout: float | None
    ) -> None:
        while True:
            deadline = Deadline(read_timeout)
            self._wait(partial(self._can_send, stream_id, len(view)), deadline,
                       f"flow-control window on stream {stream_id}", WriteTimeout)
            with self._lock:
                stream = self._live_stream_for_upload(stream_id)
                if stream is None:
                    return
                allowed = self._send_window(stream_id)
                size = min(allowed, len(view))
                frame_size = self._h2.max_outbound_frame_size
                for start in range(0, size, frame_size):
                    piece = view[start:min(start + frame_size, size)]
                    end = last and start + len(piece) == len(view)
                    self._h2.send_data(stream_id, piece.tobytes(), end_stream=end)
                    stream.request_complete = end
                view = view[size:]
                if last and not view and not stream.request_complete:
                    self._end_stream(stream)
            self._send_pending(deadline)
            if not view:
                return

    def _can_send(self, stream_id: int, size: int) -> bool:
        return size == 0 or self._send_window(stream_id) != 0

    def _send_window(self, stream_id: int) -> int:
        """Bytes we may send now: -1 when the stream is gone (stop waiting)."""
        stream = self._streams.get(stream_id)
        if stream is None or stream.state is ResponseState.FAILED or self._failure:
            return -1
        if stream.request_complete:
            # Ended by us, or the server reset it after answering (RFC 9113
            # section 8.1): nothing more may be sent.
            return -1
        # Our side is still open, so h2's stream is too (a reset by either
        # side marks request_complete, or fails the stream).
        window = self._h2.local_flow_control_window(stream_id)
        if window == 0 and stream.state is ResponseState.COMPLETE:
            # RFC 9113 section 8.1: the whole response came before the
            # request body did, and the server grants no more room for it:
            # it wants no more. Waiting would only run into the timeout.
            return -1
        return window

    def _live_stream_for_upload(self, stream_id: int) -> Stream | None:
        """The stream, if it can still take data; raises if it failed."""
        self._raise_if_failed()
        stream = self._streams.get(stream_id)
        if stream is None:
            return None
        if stream.state is ResponseState.FAILED and stream.error is not None:
            raise stream.error
        if self._send_window(stream_id) < 0:
            # RFC 9113 section 8.1: the server may answer (and close the
            # stream) before the request is complete; stop sending quietly.
            if not stream.request_complete:
                # Our half is still open: close it, or it holds one of the
                # server's stream slots for good.
                self._h2.reset_stream(stream_id, _ERROR_CODES.CANCEL)
            stream.request_complete = True
            return None
        return stream

    def _end_stream(self, stream: Stream) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self._h2.end_stream(stream.stream_id)
        stream.request_complete = True

    # ------------------------------------------------------------------
    # Responses
    # ------------------------------------------------------------------

    def get_response(self, stream_id: int | None = None) -> Any:
        """The response to ``stream_id`` (default: the oldest unclaimed one).

        Waits for the response headers, at most the read timeout. Thread-safe.
        """
        with self._lock:
            if stream_id is None:
                if not self._unclaimed:
                    raise LocalProtocolError("No request is waiting for its response")
                stream_id = self._unclaimed[0]
            stream = self._streams.get(stream_id)
            if stream is None or stream.response_taken:
                raise LocalProtocolError(f"No response to wait for on stream {stream_id}")
            stream.response_taken = True
            if stream_id in self._unclaimed:
                self._unclaimed.remove(stream_id)
        return self._response_for(stream, f"response headers on stream {stream_id}")

    def _response_for(self, stream: Stream, what: str) -> Any:
        """Wait for ``stream``'s response headers and wrap them in a response.

        Whatever fails (a timeout, a failed stream, a malformed response),
        the stream is abandoned: nobody else will read it.
        """
        from .response import HTTP20Response

        try:
            self._wait(lambda: stream.headers_ready, Deadline(stream.read_timeout), what)
            if stream.headers is None:
                assert stream.error is not None
                raise stream.error
            return HTTP20Response(stream.headers, self, stream)
        except BaseException:
            self._cancel(stream)
            raise

    def get_pushes(self, stream_id: int | None = None, capture_all: bool = False) -> Iterator[Any]:
        """Yield the pushes promised so far (on ``stream_id``, or on any stream).

        With ``capture_all``, keep waiting for more until the original
        stream ends. Each push is handed out once.
        """
        from .response import HTTP20Push

        while True:
            with self._lock:
                parent_ids = [stream_id] if stream_id is not None else list(self._pushes)
                ready = [self._pushes[p].popleft() for p in parent_ids
                         for _ in range(len(self._pushes.get(p, ())))]
                live = [self._streams[p] for p in parent_ids if p in self._streams]
                done = not capture_all or all(
                    p.state in (ResponseState.COMPLETE, ResponseState.FAILED) for p in live)
            for pushed in ready:
                yield HTTP20Push(pushed.request_headers, self, pushed)
            if done:
                return
            self._wait(partial(self._push_or_done, parent_ids, live),
                       Deadline(self.timeout.read), "pushes")

    def _push_or_done(self, parent_ids: list[int], live: list[Stream]) -> bool:
        return any(self._pushes.get(p) for p in parent_ids) or all(
            s.state in (ResponseState.COMPLETE, ResponseState.FAILED) for s in live)

    def _read_data(self, stream: Stream) -> bytes | None:
        """The next piece of ``stream``'s body, or None at its end.

        Consuming data credits the stream's flow-control window.
        """
        self._wait(lambda: stream.data_ready, Deadline(stream.read_timeout),
                   f"data on stream {stream.stream_id}")
        with self._lock:
            piece = stream.data.popleft() if stream.data else None
            if piece is None and stream.state is ResponseState.FAILED:
                assert stream.error is not None
                raise stream.error
            increment = stream.window._handle_frame(piece[1]) if piece else 0
            if increment and stream.state is ResponseState.RECEIVING_BODY:
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.increment_flow_control_window(increment, stream.stream_id)
        if piece is None:
            # The response is complete: forget the stream. If our request is
            # still being sent (RFC 9113 section 8.1: the server may answer
            # first), _cancel() resets the stream rather than leave our side
            # open, where it would hold one of the server's stream slots.
            self._cancel(stream)
            return None
        if increment:
            self._send_pending(Deadline(stream.read_timeout))
        return piece[0]

    def _cancel(self, stream: Stream, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        """Abandon a stream: reset it if still open, forget its buffers."""
        with self._lock:
            # (A stream is abandoned only once its response was asked for,
            # so it is no longer in _unclaimed.)
            self._streams.pop(stream.stream_id, None)
            if stream.state in (ResponseState.COMPLETE, ResponseState.FAILED) and \
                    stream.request_complete:
                return
            stream.fail(ConnectionClosed("The response was closed", stream_id=stream.stream_id))
            if self._sock is None or self._failure is not None:
                return
            # Some side of the stream is still open in h2 too: a reset or
            # both ends of it set request_complete and end the response.
            self._h2.reset_stream(stream.stream_id, code)
        self._send_pending(Deadline(self.timeout.read), quiet=True)

    # ------------------------------------------------------------------
    # State for the pool
    # ------------------------------------------------------------------

    def stream_capacity(self) -> int:
        """How many more streams may be opened now (0 when not usable)."""
        with self._lock:
            if not self._usable_locked():
                return 0
            limit = self._h2.remote_settings.max_concurrent_streams
            pending = len(self._pending)
            return max(0, limit - self._h2.open_outbound_streams - pending)

    def is_usable(self) -> bool:
        with self._lock:
            return self._usable_locked()

    def _usable_locked(self) -> bool:
        return not (self._closed or self._going_away or self._failure is not None)

    def is_idle(self) -> bool:
        """True when no stream is open and no response is left unread."""
        with self._lock:
            return not self._streams and not self._pending

    def check_alive(self) -> bool:
        """Process whatever the server sent while we were idle; still usable?

        Reads only what is there already; if another thread is reading, it
        processes whatever comes.
        """
        while True:
            with self._lock:
                sock = self._sock
                if sock is None or self._reading or not self._usable_locked():
                    return self._usable_locked()
                self._reading = True
            try:
                # A zero deadline: "nothing (more) to read" ends the loop as
                # a ReadTimeout. Frames to send back get the usual time.
                self._read_turn(sock, Deadline(0), "the server", ReadTimeout,
                                Deadline(self.timeout.read or 5.0))
            except HyperError:
                return self.is_usable()

    # ------------------------------------------------------------------
    # Other public methods
    # ------------------------------------------------------------------

    def ping(self, opaque_data: bytes) -> None:
        """Send a PING frame carrying 8 bytes of ``opaque_data``. Thread-safe."""
        if len(opaque_data) != 8:
            raise LocalProtocolError("PING data must be exactly 8 bytes")
        self.connect()
        with self._lock:
            self._raise_if_failed()
            self._h2.ping(opaque_data)
        self._send_pending(Deadline(self.timeout.read))

    def close(self, error_code: int | None = None) -> None:
        """Close the connection: GOAWAY, then the socket. Thread-safe.

        Responses not yet read fail with ConnectionClosed.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sock, self._sock = self._sock, None
            error = ConnectionClosed("The connection was closed by the client")
            for stream in self._streams.values():
                stream.fail(error)
            data = b""
            if sock is not None and self._failure is None:
                with contextlib.suppress(h2.exceptions.ProtocolError):
                    self._h2.close_connection(error_code or 0)
                data = bytes(self._outbound) + self._h2.data_to_send()
            self._cond.notify_all()
        if sock is None:
            return
        if self._io_lock.acquire(timeout=1.0):
            try:
                if data:
                    sock.settimeout(1.0)
                    sock.sendall(data)
            except OSError:
                pass
            finally:
                self._io_lock.release()
        # shutdown() first: it wakes a thread blocked waiting to read this
        # socket (close() alone does not), which then sees the closed
        # connection instead of waiting out its timeout.
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def __enter__(self) -> HTTP20Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ------------------------------------------------------------------
    # The reader
    # ------------------------------------------------------------------

    def _wait(
        self,
        ready: Callable[[], bool],
        deadline: Deadline,
        what: str,
        timeout_error: type[HyperError] = ReadTimeout,
    ) -> None:
        """Block until ``ready()``, reading the socket if nobody else is."""
        while True:
            with self._lock:
                if ready():
                    return
                self._raise_if_failed()
                if self._reading:
                    remaining = deadline.remaining()
                    if remaining == 0:
                        raise timeout_error(f"Timed out waiting for {what}")
                    self._cond.wait(remaining)
                    continue
                self._reading = True
                sock = self._sock
            # Connected (every caller connected first) and neither failed
            # nor closed (checked above): the socket is there.
            assert sock is not None
            self._read_turn(sock, deadline, what, timeout_error)

    def _read_turn(
        self,
        sock: socket.socket,
        deadline: Deadline,
        what: str,
        timeout_error: type[HyperError],
        flush_deadline: Deadline | None = None,
    ) -> None:
        """As the reader (the caller took the role), read one batch and feed
        it; then give up the role and send what h2 wants to answer."""
        try:
            data = self._recv(sock, deadline, what, timeout_error)
            self._feed(sock, data, flush=False)
        finally:
            with self._lock:
                self._reading = False
                self._cond.notify_all()
        self._send_pending(flush_deadline or deadline, quiet=True)

    def _recv(self, sock: socket.socket, deadline: Deadline, what: str,
              timeout_error: type[HyperError]) -> bytes:
        """One batch from the socket; the one place its read errors are translated."""
        try:
            return self._recv_batch(sock, deadline)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError) as exc:
            # (A non-blocking read only happens once the deadline is reached.)
            raise timeout_error(f"Timed out waiting for {what}") from exc
        except (OSError, ValueError) as exc:
            # ValueError: the socket was closed by another thread (close()).
            self._fail(ConnectionClosed(f"The connection was lost: {exc}"))
            raise self._failure from exc  # type: ignore[misc]

    def _recv_batch(self, sock: socket.socket, deadline: Deadline) -> bytes:
        """Wait until the socket is readable, then read what is there.
        Raises socket.timeout when the deadline comes first."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending()
        if not pending and not wait_readable(sock, deadline.remaining()):
            raise socket.timeout("nothing to read")
        if not self._io_lock.acquire(timeout=_lock_timeout(deadline)):
            raise socket.timeout("another thread is using the socket")
        try:
            sock.settimeout(deadline.remaining())
            data = sock.recv(self.network_buffer_size)
            return self._drain(sock, data) if data else data
        finally:
            self._io_lock.release()

    def _drain(self, sock: socket.socket, first: bytes) -> bytes:
        """Add what else is already readable, without waiting, so that h2 and
        the waiters see one batch instead of one TLS record at a time.
        Caller holds ``_io_lock``."""
        parts = [first]
        size = len(first)
        sock.settimeout(0)
        while size < _BATCH_LIMIT:
            try:
                more = sock.recv(self.network_buffer_size)
            except (ssl.SSLWantReadError, BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # reported by the next read
            if not more:
                break  # EOF: the next read sees it again
            parts.append(more)
            size += len(more)
        return b"".join(parts)

    def _feed(self, sock: socket.socket, data: bytes, flush: bool = True) -> None:
        """Give bytes received on ``sock`` to h2 and apply its events; close
        ``sock`` if they broke the connection. Caller holds no lock."""
        with self._lock:
            failed_before = self._failure is not None
            self._feed_locked(data)
            failure = None if failed_before else self._failure
            self._cond.notify_all()
        if flush or failure is not None:
            self._send_pending(Deadline(self.timeout.read or 5.0), quiet=True)
        if failure is not None:
            with self._lock:
                # (close() may have dropped it already: closing twice is harmless.)
                self._sock = None
            sock.close()

    def _feed_locked(self, data: bytes) -> None:
        if not data:
            self._fail_locked(ConnectionClosed(
                "The server closed the connection" +
                (" after GOAWAY" if self._goaway_last_id is not None else "")))
            return
        if self._preface_pending is not None:
            data = self._check_server_preface(data)
            if not data:
                return
        # h2 empties its outbound buffer when a GOAWAY arrives, yet frames
        # other threads queued before it (the END_STREAM of an upload on a
        # stream the server will still process) must go out: keep them.
        self._outbound += self._h2.data_to_send()
        try:
            events = self._h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY; _feed sends it before closing.
            self._fail_locked(translate_protocol_error(exc))
            return
        for event in events:
            self._apply(event)

    def _check_server_preface(self, data: bytes) -> bytes:
        """RFC 9113 section 3.4: "The server connection preface consists of a
        potentially empty SETTINGS frame ... that MUST be the first frame the
        server sends." h2 doesn't check this, and a server that answers in
        HTTP/1.1 would otherwise look like the start of a huge frame.
        Returns the bytes to feed on (b"" while fewer than 9 have come)."""
        assert self._preface_pending is not None
        head = self._preface_pending + data
        if len(head) < 9:
            self._preface_pending = head
            return b""
        self._preface_pending = None
        if is_server_preface(head, self._h2.max_inbound_frame_size):
            return head
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self._h2.close_connection(_ERROR_CODES.PROTOCOL_ERROR)
        self._fail_locked(HTTP2ConnectionError(
            "The server did not start with a SETTINGS frame, so it does not speak "
            f"HTTP/2 here (first bytes: {head[:16]!r})",
            error_code=_ERROR_CODES.PROTOCOL_ERROR,
        ))
        return b""

    def _apply(self, event: h2.events.Event) -> None:
        """Apply one h2 event to hyper's state. Caller holds ``_lock``."""
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event)

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.headers = list(event.headers or [])
            stream.apply(StreamInput.HEADERS)
            for name, value in stream.headers:
                if name == b"content-length" and value.isdigit():
                    stream.window.document_size = int(value)

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.trailers = list(event.headers or [])
            stream.apply(StreamInput.TRAILERS)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        length = event.flow_controlled_length or 0
        increment = self._conn_window._handle_frame(length)
        if increment:
            self._h2.increment_flow_control_window(increment)
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        stream.data.append((bytes(event.data or b""), length))
        stream.apply(StreamInput.DATA)

    def _on_end(self, event: h2.events.StreamEnded) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is not None:
            stream.apply(StreamInput.END)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self._streams.get(event.stream_id)
        if stream is None:
            return
        code = int(event.error_code or 0)
        error = StreamResetError(
            f"Stream {event.stream_id} was reset by the "
            f"{'server' if event.remote_reset else 'client'} with {error_name(code)}",
            stream_id=event.stream_id,
            error_code=code,
        )
        # RFC 9113 section 8.7: REFUSED_STREAM means "the stream was closed
        # prior to any application processing", so a retry is safe.
        error.retry_safe = code == _ERROR_CODES.REFUSED_STREAM
        # RFC 9113 section 8.1: a server that sent its whole response may
        # reset the stream with NO_ERROR to stop our upload; a COMPLETE
        # response stands (fail() leaves it alone).
        stream.request_complete = True
        stream.fail(error)

    def _on_push(self, event: h2.events.PushedStreamReceived) -> None:
        pushed_id = int(event.pushed_stream_id or 0)
        parent = self._streams.get(int(event.parent_stream_id or 0))
        headers = list(event.headers or [])
        if parent is None or not self._authoritative(headers):
            # RFC 9113 section 8.4: a client "MUST treat a PUSH_PROMISE for
            # which the server is not authoritative as a stream error of type
            # PROTOCOL_ERROR".
            log.debug("Refusing push %d: %r", pushed_id, headers)
            self._h2.reset_stream(pushed_id, _ERROR_CODES.PROTOCOL_ERROR
                                  if parent is not None else _ERROR_CODES.CANCEL)
            return
        stream = self._new_stream(pushed_id, parent.read_timeout, headers)
        stream.request_complete = True
        self._pushes.setdefault(parent.stream_id, deque()).append(stream)

    def _authoritative(self, headers: list[tuple[bytes, bytes]]) -> bool:
        values = dict(headers)
        scheme = values.get(b":scheme", b"").decode("latin-1")
        claimed = values.get(b":authority", b"").decode("latin-1").lower()
        # The server may leave out the default port or write it; an IPv6
        # host is already bracketed in self.authority.
        ours = {self.authority.lower(), f"{self.authority.lower()}:{self.port}"}
        return scheme == self.scheme and claimed in ours

    def _on_goaway(self, event: h2.events.ConnectionTerminated) -> None:
        code = int(event.error_code or 0)
        last_id = int(event.last_stream_id or 0)
        self._going_away = True
        self._goaway_last_id = last_id
        for stream in list(self._streams.values()):
            if stream.stream_id > last_id and stream.stream_id % 2 == 1:
                # RFC 9113 section 6.8: such streams "were not processed by
                # the sender of the GOAWAY frame".
                stream.fail(StreamNotProcessedError(
                    f"The server sent GOAWAY (last stream {last_id}) before processing "
                    f"stream {stream.stream_id}; the request is safe to retry",
                    stream_id=stream.stream_id,
                    error_code=code,
                ))
        if code != _ERROR_CODES.NO_ERROR:
            extra = event.additional_data or b""
            self._fail_locked(HTTP2ConnectionError(
                f"The server ended the connection with {error_name(code)}"
                + (f": {extra.decode('utf-8', 'replace')}" if extra else ""),
                error_code=code,
            ))

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self._settings_seen = True

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        self._pings.append(bytes(event.ping_data or b""))

    # ------------------------------------------------------------------
    # Internals
    # ------------------------------------------------------------------

    def _new_stream(self, stream_id: int, read_timeout: float | None,
                    request_headers: Headers) -> Stream:
        initial = self._h2.local_settings.initial_window_size
        stream = Stream(stream_id, self.window_manager_class(initial), read_timeout,
                        request_headers)
        self._streams[stream_id] = stream
        return stream

    def _pending_for(self, stream_id: int | None) -> list[tuple[bytes, bytes]]:
        sid = self._resolve_pending(stream_id)
        return self._pending[sid][2]

    def _resolve_pending(self, stream_id: int | None) -> int:
        sid = stream_id if stream_id is not None else self._last_put
        if sid is None or sid not in self._pending:
            raise LocalProtocolError(f"No request started with putrequest() on stream {sid}")
        return sid

    def _check_can_open(self, stream_id: int) -> None:
        self._raise_if_failed()
        if self._going_away or self._closed:
            raise StreamNotProcessedError(
                "The connection is going away (GOAWAY received, or its header compression "
                "state was lost); the request was not sent",
                stream_id=stream_id,
            )

    def _has_room(self) -> bool:
        """May one more stream be opened now? Caller holds ``_lock``.

        Until the server's first SETTINGS arrive its MAX_CONCURRENT_STREAMS
        is unknown (RFC 9113 section 6.5.2: "initially, there is no limit"),
        and some servers answer a stream over their limit with a connection
        error; so only the first stream goes out before then.
        """
        if self._failure is not None or self._going_away or self._closed:
            return True  # _check_can_open raises the right error
        if not self._settings_seen:
            return self._h2.open_outbound_streams == 0
        limit = self._h2.remote_settings.max_concurrent_streams
        return self._h2.open_outbound_streams < limit

    def _raise_if_failed(self) -> None:
        if self._failure is not None:
            raise self._failure
        if self._closed:
            raise ConnectionClosed("The connection was closed by the client")

    def _fail(self, error: HyperError) -> None:
        with self._lock:
            self._fail_locked(error)

    def _fail_locked(self, error: HyperError) -> None:
        if self._failure is None:
            self._failure = error
        for stream in self._streams.values():
            stream.fail(error)
        self._cond.notify_all()

    def _send_pending(self, deadline: Deadline, quiet: bool = False) -> None:
        """Flush h2's outbound buffer, in order. Caller holds no lock."""
        sock = self._sock
        if sock is None:
            return
        if not self._io_lock.acquire(timeout=_lock_timeout(deadline)):
            if quiet:
                return
            raise WriteTimeout("Timed out waiting to write to the connection")
        try:
            with self._lock:
                data = bytes(self._outbound) + self._h2.data_to_send()
                self._outbound.clear()
            if not data:
                return
            if log.isEnabledFor(logging.DEBUG):
                log_frames(data)
            sock.settimeout(deadline.remaining())
            sock.sendall(data)
        except OSError as exc:
            # Part of a frame may have gone out: the connection is done.
            # (At a deadline already reached the socket is non-blocking.)
            timed_out = isinstance(exc, (socket.timeout, BlockingIOError, ssl.SSLWantWriteError))
            self._fail(WriteTimeout("Timed out writing to the server") if timed_out else
                       ConnectionClosed(f"The connection was lost while sending: {exc}"))
            if not quiet:
                raise self._failure from exc  # type: ignore[misc]
        finally:
            self._io_lock.release()


_HANDLERS: dict[type, Callable[[HTTP20Connection, Any], None]] = {
    h2.events.ResponseReceived: HTTP20Connection._on_response,
    h2.events.TrailersReceived: HTTP20Connection._on_trailers,
    h2.events.DataReceived: HTTP20Connection._on_data,
    h2.events.StreamEnded: HTTP20Connection._on_end,
    h2.events.StreamReset: HTTP20Connection._on_reset,
    h2.events.PushedStreamReceived: HTTP20Connection._on_push,
    h2.events.ConnectionTerminated: HTTP20Connection._on_goaway,
    h2.events.PingAckReceived: HTTP20Connection._on_ping_ack,
    h2.events.RemoteSettingsChanged: HTTP20Connection._on_settings,
}


def _lock_timeout(deadline: Deadline) -> float:
    remaining = deadline.remaining()
    return -1 if remaining is None else remaining


__all__ = ["HTTP20Connection", "RemoteProtocolError"]
