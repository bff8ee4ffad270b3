"""HTTP20Connection: the I/O shell around h2, safe to share between threads.

Theory of operation
-------------------
* ``_lock`` guards the protocol state (h2's state machine and every
  :class:`Stream`); it is never held while the socket is used.
* ``_io_lock`` serialises use of the socket. A TLS socket must not be read
  and written by two threads at once (an OpenSSL object is not thread-safe),
  so sends and receives take turns. Lock order: ``_io_lock`` before
  ``_lock``, never the reverse.
* The protocol state (h2 and the streams) is a :class:`ClientState`, which
  does no I/O; every call into it holds ``_lock``.
* Bytes to send stay in the state's outbound buffer; whoever flushes takes
  the whole buffer while holding ``_io_lock``, so frames leave in the order
  h2 produced them (HPACK state depends on that order).
* One thread at a time is the *reader*: a thread that waits for its stream
  takes the role if nobody has it, reads one batch from the socket, feeds h2
  and applies the events to the streams they belong to, then wakes every
  waiter. A frame read by one thread thus reaches the thread that waits on
  its stream. The reader waits for the socket or a wake-up byte (a
  socketpair in the same poll), written when another thread changes what
  waiters wait for. Every wait is bounded by the read timeout, as the
  longest time without a byte received on the connection.
* A connection is opened once. When a write fails, what the server sent
  before is read first (responses, GOAWAY); then the connection fails and
  its socket is closed; later requests are refused as not sent.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
from collections import deque
from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any, Callable, NoReturn

import h2.errors

from ..common.body import BodyArg, iter_body, known_length
from ..common.timeouts import Deadline, TimeoutArg, TimeoutConfig
from ..common.transport import ProxyArg, open_transport, proxy_config
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
    HyperError,
    LocalProtocolError,
    ReadTimeout,
    RemoteProtocolError,
    WriteTimeout,
)
from .h2glue import log_frames
from .state import ClientState
from .streams import Headers, ResponseState, Stream
from .window import BaseFlowControlManager, FlowControlManager

if TYPE_CHECKING:
    from .response import HTTP20Push, HTTP20Response

log = logging.getLogger("hyper")

# The most a reader takes from the socket in one turn before handing the
# events to the waiting threads.
_BATCH_LIMIT = 1024 * 1024

# poll(2) where there is one: select(2) cannot watch descriptors >= 1024.
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector)

# The bound of the connection's own writes when no read timeout is set.
_OWN_WRITE_TIMEOUT = 5.0

# The most read from a broken connection to salvage responses and GOAWAY.
_SALVAGE_LIMIT = 16 * 1024 * 1024


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
        proxy_host: ProxyArg = None,
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
        # True once a socket was taken: a connection is never opened twice
        # (after a failure the object stays failed; HTTPConnection opens a
        # new one).
        self._opened = False
        self._reading = False
        # Bytes received so far: a waiter that sees this move knows the
        # server is not silent (see _wait).
        self._received = 0
        # Streams of responses garbage-collected unread. A finalizer may run
        # at any allocation, even in a thread holding _lock, so it only
        # queues the stream here; the next locked section resets it.
        self._abandoned: deque[Stream] = deque()
        # The reader waits for the socket or for a byte on this pair: what it
        # waits for may come true without a byte from the server (another
        # thread closed the response whose upload it sends, freed a stream
        # slot), and then _notify() wakes it. Made when connecting.
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        # The reader's poll of the socket and the wake-up pair, made once
        # with the pair (one reader at a time uses it).
        self._selector: selectors.BaseSelector | None = None
        self._state = ClientState(
            scheme=self.scheme,
            authority=self.authority,
            port=self.port,
            enable_push=enable_push,
            window_manager_class=self.window_manager_class,
        )

    # ------------------------------------------------------------------
    # Connecting
    # ------------------------------------------------------------------

    def connect(self) -> None:
        """Connect to the server; a no-op if already connected. Thread-safe."""
        with self._connect_lock:
            if self._connected():
                return
            if self._opened or self._state.closed:
                with self._lock:
                    failure = self._state.failure
                if failure is not None:
                    raise self._not_sent(failure)
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
                self._state.initiate()
            self._make_wake_pair(sock)
            self._sock = sock
            self._opened = True
        deadline = Deadline(self.timeout.connect)
        self._send_pending(deadline)
        # Learn the server's limits (MAX_CONCURRENT_STREAMS above all) before
        # anyone decides how many requests this connection can take. Servers
        # send their SETTINGS at once, so this costs at most a round trip.
        self._wait(self._settings_known, deadline, "the server's SETTINGS", ConnectTimeout)

    def _own_write_timeout(self) -> float:
        """The bound of the connection's own writes, which no request waits
        for (resets, WINDOW_UPDATEs, the GOAWAY of a protocol error): the
        read timeout, or :data:`_OWN_WRITE_TIMEOUT` without one."""
        return self.timeout.read if self.timeout.read is not None else _OWN_WRITE_TIMEOUT

    def _make_wake_pair(self, sock: socket.socket) -> None:
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector = _Selector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)

    def _settings_known(self) -> bool:
        return self._state.settings_seen

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
        """Prepare an ``Upgrade: h2c`` request; return its HTTP2-Settings value."""
        with self._lock:
            return self._state.begin_upgrade()

    def _adopt_upgrade(
        self,
        sock: socket.socket,
        leftover: bytes,
        request_headers: Headers,
        read_timeout: float | None,
    ) -> int:
        """Take over a socket after ``101 Switching Protocols``; return stream 1."""
        with self._lock:
            self._state.adopt_upgrade(request_headers, read_timeout)
        self._make_wake_pair(sock)
        self._sock = sock
        self._opened = True
        # (A failure here fails stream 1, which get_response() reports.)
        self._send_pending(Deadline(read_timeout), quiet=True)
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
            return self._state.put_request(method, selector, read_timeout)

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
            pending = self._state.pending_headers(stream_id)
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
            sid, (method, selector, queued, read_timeout) = self._state.take_pending(stream_id)
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
                self._reset_abandoned()
                # Checking and sending under one lock keeps us in the limit
                # when other threads open streams too.
                if self._state.has_room():
                    try:
                        stream_id = self._state.open_stream(stream_id, headers, end_now,
                                                            read_timeout)
                    except BaseException:
                        # A failure may have ended the connection for new
                        # streams: those waiting for a slot must see it.
                        self._notify()
                        raise
                    break
            self._wait(self._state.has_room, deadline, "a free stream slot", WriteTimeout)
        try:
            self._send_pending(deadline)
        except HyperError as exc:
            self._settle_send_error(stream_id, exc)
        return stream_id

    @staticmethod
    def _not_sent(failure: HyperError) -> HyperError:
        """The error of a request that was not sent because the connection
        had already failed: certainly not processed, so safe to retry."""
        error = ConnectionClosed(
            f"The request was not sent: the connection had failed ({failure})")
        error.retry_safe = True
        error.__cause__ = failure
        return error

    def _settle_send_error(self, stream_id: int, exc: HyperError) -> NoReturn:
        """Sending failed after ``stream_id``'s HEADERS were queued (so no
        answer to it can have come): forget the stream and raise its own
        error (above the last_stream_id of a GOAWAY read before the failure,
        see _salvage, a StreamNotProcessedError, safe to retry), else ``exc``."""
        with self._lock:
            stream = self._state.streams.get(stream_id)
            error = stream.error if stream is not None and stream.error is not None else exc
            self._state.abort_upload(stream_id)
            self._notify()
        if error is exc:
            raise exc
        raise error from exc

    def send(self, data: BodyArg, final: bool = False, stream_id: int | None = None) -> None:
        """Send (more of) a request body, within the server's flow-control window."""
        with self._lock:
            stream = self._state.upload_stream(stream_id)
        try:
            self._send_body(stream.stream_id, iter_body(data), final, stream.read_timeout)
        except HyperError:
            if not self._answered(stream.stream_id):
                raise

    def _answered(self, stream_id: int) -> bool:
        """Whether the whole response on ``stream_id`` came: after a failed
        send, that answer is the outcome (RFC 9113 section 8.1: the server
        may answer before it has the whole request)."""
        with self._lock:
            stream = self._state.streams.get(stream_id)
            return stream is not None and stream.state is ResponseState.COMPLETE

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
        write timed out), reset the stream with CANCEL, then re-raise."""
        try:
            self._send_body(stream_id, chunks, final, read_timeout)
        except HyperError as exc:
            with self._lock:
                stream = self._state.streams.get(stream_id)
                if stream is not None and stream.state is ResponseState.COMPLETE:
                    # RFC 9113 section 8.1: the server answered before it
                    # had the whole body; that answer is the outcome.
                    return
                error = stream.error if stream is not None and stream.error else exc
                self._state.abort_upload(stream_id)
                self._notify()
            self._send_pending(Deadline(self._own_write_timeout()), quiet=True)
            if error is exc:
                raise
            raise error from exc
        except BaseException:
            with self._lock:
                self._state.abort_upload(stream_id)
                self._notify()
            self._send_pending(Deadline(self._own_write_timeout()), quiet=True)
            raise

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
                self._state.finish_request(stream_id)
            self._send_pending(Deadline(read_timeout))

    def _send_chunk(
        self, stream_id: int, view: memoryview, last: bool, read_timeout: float | None
    ) -> None:
        while True:
            deadline = Deadline(read_timeout, True)
            self._wait(partial(self._can_send, stream_id, len(view)), deadline,
                       f"flow-control window on stream {stream_id}", WriteTimeout)
            with self._lock:
                sent = self._state.send_data(stream_id, view, last)
            if sent is None:
                return
            view = view[sent:]
            self._send_pending(deadline)
            if not view:
                return

    def _can_send(self, stream_id: int, size: int) -> bool:
        return size == 0 or self._state.send_window(stream_id) != 0

    # ------------------------------------------------------------------
    # Responses
    # ------------------------------------------------------------------

    def get_response(self, stream_id: int | None = None) -> HTTP20Response:
        """The response to ``stream_id`` (default: the oldest unclaimed one).

        Waits for the response headers, at most the read timeout. Thread-safe.
        """
        with self._lock:
            stream = self._state.claim(stream_id)
        return self._response_for(stream, f"response headers on stream {stream.stream_id}")

    def _response_for(self, stream: Stream, what: str) -> HTTP20Response:
        """Wait for ``stream``'s response headers and wrap them in a response.

        Whatever fails (a timeout, a failed stream, a malformed response),
        the stream is abandoned: nobody else will read it.
        """
        from .response import HTTP20Response

        try:
            self._wait(lambda: stream.headers_ready, Deadline(stream.read_timeout, True), what)
            if stream.headers is None:
                assert stream.error is not None
                raise stream.error
            return HTTP20Response(stream.headers, self, stream)
        except BaseException:
            self._cancel(stream)
            raise

    def get_pushes(
        self, stream_id: int | None = None, capture_all: bool = False
    ) -> Iterator[HTTP20Push]:
        """Yield the pushes promised so far (on ``stream_id``, or on any stream).

        With ``capture_all``, keep waiting for more until the original
        stream ends. Each push is handed out once.
        """
        from .response import HTTP20Push

        while True:
            with self._lock:
                state = self._state
                parent_ids = [stream_id] if stream_id is not None else list(state.pushes)
                ready = state.take_pushes(parent_ids)
                live = [state.streams[p] for p in parent_ids if p in state.streams]
                done = not capture_all or all(
                    p.state in (ResponseState.COMPLETE, ResponseState.FAILED) for p in live)
            for pushed in ready:
                yield HTTP20Push(pushed.request_headers, self, pushed)
            if done:
                return
            self._wait(partial(self._push_or_done, parent_ids, live),
                       Deadline(self.timeout.read, True), "pushes")

    def _push_or_done(self, parent_ids: list[int], live: list[Stream]) -> bool:
        return any(self._state.pushes.get(p) for p in parent_ids) or all(
            s.state in (ResponseState.COMPLETE, ResponseState.FAILED) for s in live)

    def _read_data(self, stream: Stream) -> bytes | None:
        """The next piece of ``stream``'s body, or None at its end.

        Consuming data credits the stream's flow-control window.
        """
        self._wait(lambda: stream.data_ready, Deadline(stream.read_timeout, True),
                   f"data on stream {stream.stream_id}")
        with self._lock:
            piece, credited = self._state.consume(stream)
        if piece is None:
            # The response is complete: forget the stream. If our request is
            # still being sent (RFC 9113 section 8.1: the server may answer
            # first), _cancel() resets the stream rather than leave our side
            # open, where it would hold one of the server's stream slots.
            self._cancel(stream)
            return None
        if credited:
            self._send_pending(Deadline(stream.read_timeout))
        return piece

    def _cancel(self, stream: Stream, code: int = h2.errors.ErrorCodes.CANCEL) -> None:
        """Abandon a stream: reset it if still open, forget its buffers."""
        with self._lock:
            self._state.cancel(stream, code)
            # Whoever waits to send on this stream stops now.
            self._notify()
        self._send_pending(Deadline(self._own_write_timeout()), quiet=True)

    # ------------------------------------------------------------------
    # State for the pool
    # ------------------------------------------------------------------

    def stream_capacity(self) -> int:
        """How many more streams may be opened now (0 when not usable)."""
        with self._lock:
            self._reset_abandoned()
            return self._state.capacity()

    def is_usable(self) -> bool:
        with self._lock:
            return self._state.usable()

    def broke_after_goaway(self) -> bool:
        """Whether the connection failed (closed, reset, a GOAWAY with an
        error) after a graceful GOAWAY, before the server finished the
        streams it said it would. Their requests met a communication
        failure, which RFC 9110 section 9.2.2 lets a client repeat when
        the method is idempotent."""
        with self._lock:
            return self._state.broke_after_goaway

    def is_idle(self) -> bool:
        """True when no stream is open and no response is left unread."""
        with self._lock:
            self._reset_abandoned()
            return self._state.idle()

    def _reset_abandoned(self) -> None:
        """Reset (CANCEL) the streams of responses garbage-collected unread
        and drop their buffers. Caller holds ``_lock``; the frames go out
        with the next flush."""
        while self._abandoned:
            stream = self._abandoned.popleft()
            if self._state.streams.get(stream.stream_id) is stream:
                self._state.cancel(stream, h2.errors.ErrorCodes.CANCEL)
                stream.data.clear()
                self._notify()

    def check_alive(self) -> bool:
        """Process whatever the server sent while we were idle; still usable?

        Reads only what is there already; if another thread is reading, it
        processes whatever comes. The pool asks before every reuse: an idle
        socket with nothing to read costs one poll(0).
        """
        while True:
            with self._lock:
                sock = self._sock
                if sock is None or self._reading or not self._state.usable():
                    return self._state.usable()
                self._reading = True
            if not self._input_waiting(sock):
                with self._lock:
                    self._reading = False
                    self._cond.notify_all()
                    return self._state.usable()
            try:
                # A zero deadline: "nothing (more) to read" ends the loop as
                # a ReadTimeout. Frames to send back get the usual time.
                self._read_turn(sock, Deadline(0), "the server", ReadTimeout,
                                Deadline(self._own_write_timeout()))
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
            self._reset_abandoned()
            self._state.ping(opaque_data)
        self._send_pending(Deadline(self.timeout.read))

    def close(self, error_code: int | None = None) -> None:
        """Close the connection: GOAWAY, then the socket. Thread-safe.

        Responses not yet read fail with ConnectionClosed.
        """
        with self._lock:
            self._abandoned.clear()
            given, self._given_sock = self._given_sock, None
            if self._state.closed:
                return
            sock, self._sock = self._sock, None
            data = self._state.close(error_code, connected=sock is not None)
            self._cond.notify_all()
        if given is not None and given is not sock:
            given.close()  # never connected: the socket was handed over unused
        if sock is None:
            self._close_wake_pair()
            return
        if self._io_lock.acquire(timeout=1.0):
            try:
                sock.settimeout(1.0)
                sock.sendall(data)
            except OSError:
                pass
            finally:
                self._io_lock.release()
        # A thread blocked reading this socket wakes and sees the closed
        # connection instead of waiting out its timeout.
        self._shut(sock)

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
        """Block until ``ready()``, reading the socket if nobody else is.

        What counts as progress for a renewable ``deadline``: any byte
        received on the connection since the wait began (or since the last
        progress). On a multiplexed connection a stream's own bytes may sit
        behind other streams' frames, so the connection's bytes are the
        honest sign that the server is not silent; this is requests' read
        timeout, the longest time without a byte.
        """
        seen = self._received
        while True:
            with self._lock:
                self._reset_abandoned()
                if ready():
                    return
                self._state.raise_if_failed()
                if self._received != seen:
                    seen = self._received
                    deadline.renew()
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
            if data is not None:
                self._feed(sock, data, flush=False)
        finally:
            with self._lock:
                self._reading = False
                self._cond.notify_all()
        if data is not None:
            # What h2 answers by itself (SETTINGS and PING acknowledgements,
            # WINDOW_UPDATEs). (Woken without data, there is nothing new:
            # other threads flush what they queued themselves.)
            self._send_pending(flush_deadline or deadline, quiet=True)

    def _recv(self, sock: socket.socket, deadline: Deadline, what: str,
              timeout_error: type[HyperError]) -> bytes | None:
        """One batch from the socket (None: nothing came within the recheck
        interval); the one place its read errors are translated."""
        try:
            return self._recv_batch(sock, deadline)
        except (socket.timeout, ssl.SSLWantReadError, BlockingIOError) as exc:
            # (A non-blocking read only happens once the deadline is reached.)
            raise timeout_error(f"Timed out waiting for {what}") from exc
        except (OSError, ValueError) as exc:
            # ValueError: the socket was closed by another thread (close()).
            raise self._fail(ConnectionClosed(f"The connection was lost: {exc}")) from exc

    def _recv_batch(self, sock: socket.socket, deadline: Deadline) -> bytes | None:
        """Read what the socket has, waiting until it is readable; None when
        woken first (see _notify). Raises socket.timeout when the deadline
        comes first.

        Reads first and polls only when there was nothing: a response is
        often there already, and a read that finds nothing costs one
        syscall. The socket stays non-blocking for reads: only a timeout
        other than 0 (set by a write) costs a change. _drain follows every
        read, even a short one: over TLS a read returns one record at most
        (skipping it after a short record cut many-thread throughput by
        half: a read turn and a wake-up of every waiter per record), and
        over TCP skipping it made hypercorn's PROTOCOL_ERROR race in
        test_reconnect's h2c request limit about twice as frequent.
        """
        while True:
            if not self._io_lock.acquire(timeout=_lock_timeout(deadline)):
                raise socket.timeout("another thread is using the socket")
            try:
                if sock.gettimeout() != 0:
                    sock.settimeout(0)
                try:
                    data = sock.recv(self.network_buffer_size)
                except (ssl.SSLWantReadError, BlockingIOError):
                    pass
                else:
                    return self._drain(sock, data) if data else data
            finally:
                self._io_lock.release()
            if not self._readable(sock, deadline.remaining()):
                if deadline.expired():
                    raise socket.timeout("nothing to read")
                return None

    def _input_waiting(self, sock: socket.socket) -> bool:
        """Whether ``sock`` has something to read now (data, EOF, an error),
        in the TLS layer or in the socket. Caller is the reader."""
        pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
        return pending or self._readable(sock, 0)

    def _readable(self, sock: socket.socket, timeout: float | None) -> bool:
        """Wait (at most ``timeout``) for ``sock`` to be readable or for a
        wake-up; True when ``sock`` is (or was closed: the read says so)."""
        selector, wake = self._selector, self._wake_r
        assert selector is not None and wake is not None  # (reading: connected)
        ready = {key.fileobj for key, _ in selector.select(timeout)}
        if wake in ready:
            with contextlib.suppress(OSError):
                wake.recv(4096)
        return sock in ready

    def _drain(self, sock: socket.socket, first: bytes) -> bytes:
        """Add what else is already readable, without waiting, so that h2 and
        the waiters see one batch instead of one TLS record at a time.
        Caller holds ``_io_lock``; the socket is non-blocking."""
        parts = [first]
        size = len(first)
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
        """Give bytes received on ``sock`` to the state; close ``sock`` if
        they broke the connection. Caller holds no lock."""
        with self._lock:
            failed_before = self._state.failure is not None
            self._received += len(data)
            self._state.receive(data)
            failure = None if failed_before else self._state.failure
            self._cond.notify_all()
        if flush or failure is not None:
            # (A GOAWAY h2 queued on a protocol error goes out first.)
            self._send_pending(Deadline(self._own_write_timeout()), quiet=True)
        if failure is not None:
            with self._lock:
                # (close() may have dropped it already: closing twice is harmless.)
                self._sock = None
            self._shut(sock)

    def _notify(self) -> None:
        """Wake every thread waiting on the state, the reader too (it waits
        for the socket). Caller holds ``_lock``."""
        self._cond.notify_all()
        if self._reading:
            assert self._wake_w is not None  # (reading: connected)
            with contextlib.suppress(OSError):  # full: a wake-up is pending anyway
                self._wake_w.send(b"\0")

    def _shut(self, sock: socket.socket) -> None:
        """Close ``sock`` and the wake-up pair. shutdown() first wakes a
        thread blocked waiting to read it (close() alone does not)."""
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        self._close_wake_pair()

    def _close_wake_pair(self) -> None:
        # (A reader still polling it gets an error, and sees the failure.)
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()

    def _fail(self, error: HyperError) -> HyperError:
        """Break the connection and close its socket; return the error it
        now fails with."""
        with self._lock:
            self._state.fail(error)
            self._cond.notify_all()
            sock, self._sock = self._sock, None
            assert self._state.failure is not None
            failure = self._state.failure
        if sock is not None:
            self._shut(sock)
        return failure

    def _salvage(self, sock: socket.socket) -> None:
        """Sending failed (EPIPE, ECONNRESET): read what the server sent
        before, without waiting. Linux keeps received data readable after a
        reset, and it may hold whole responses and the GOAWAY whose
        last_stream_id says which streams were not processed (RFC 9113
        section 6.8). Caller holds ``_io_lock``."""
        taken = 0
        with contextlib.suppress(OSError, ValueError):
            sock.settimeout(0)
            while taken < _SALVAGE_LIMIT:
                data = sock.recv(self.network_buffer_size)
                if not data:
                    return
                taken += len(data)
                with self._lock:
                    self._received += len(data)
                    self._state.receive(data)
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
                data = self._state.take_outbound()
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
            if not timed_out:
                self._salvage(sock)
            failure = self._fail(
                WriteTimeout("Timed out writing to the server") if timed_out
                else ConnectionClosed(f"The connection was lost while sending: {exc}"))
            if not quiet:
                raise failure from exc
        finally:
            self._io_lock.release()


def _lock_timeout(deadline: Deadline) -> float:
    remaining = deadline.remaining()
    return -1 if remaining is None else remaining


__all__ = ["HTTP20Connection", "RemoteProtocolError"]
