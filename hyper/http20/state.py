"""The HTTP/2 client's protocol state: h2 plus hyper's stream bookkeeping.

No sockets, no locks, no waiting here. :class:`ClientState` decides which
stream a received event belongs to, when a stream may be opened, how much of
a body may be sent now and what a stream's consumer gets next; the bytes to
send pile up in :meth:`ClientState.take_outbound`. The I/O shell,
:class:`hyper.http20.connection.HTTP20Connection`, owns the socket and the
threads, and calls every method here with its state lock held.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import Any, Callable

import h2.errors
import h2.events
import h2.exceptions

from ..exceptions import (
    ConnectionClosed,
    HTTP2ConnectionError,
    HyperError,
    LocalProtocolError,
    StreamNotProcessedError,
    StreamResetError,
)
from .h2glue import error_name, is_server_preface, new_h2_connection, translate_protocol_error
from .streams import Headers, ResponseState, Stream, StreamInput
from .window import DEFAULT_CONNECTION_WINDOW, DEFAULT_MAX_UNREAD, BaseFlowControlManager

log = logging.getLogger("hyper")

_ERROR_CODES = h2.errors.ErrorCodes

# h2 starts every connection with the RFC's 65,535-byte connection window.
_H2_INITIAL_WINDOW = 65535

# A request started with putrequest(): method, path, headers, read timeout.
PendingRequest = tuple[str, str, Headers, "float | None"]


class ClientState:
    """One HTTP/2 connection's state, from the client's side."""

    def __init__(
        self,
        *,
        scheme: str,
        authority: str,
        port: int,
        enable_push: bool,
        window_manager_class: type[BaseFlowControlManager],
        max_unread: int = DEFAULT_MAX_UNREAD,
    ) -> None:
        self.scheme = scheme
        self.authority = authority
        self.port = port
        self.window_manager_class = window_manager_class
        self.h2 = new_h2_connection(enable_push)
        self.streams: dict[int, Stream] = {}
        # Streams whose response nobody has asked for yet, oldest first.
        self.unclaimed: deque[int] = deque()
        # Requests started with putrequest() whose headers are not sent yet.
        self.pending: dict[int, PendingRequest] = {}
        self.last_put: int | None = None
        self.next_stream_id = 1
        self.going_away = False
        self.goaway_last_id: int | None = None
        # A GOAWAY with NO_ERROR came, and then the connection failed
        # before the server finished the streams it kept.
        self.graceful_goaway = False
        self.broke_after_goaway = False
        self.failure: HyperError | None = None
        self.closed = False
        self.conn_window = window_manager_class(DEFAULT_CONNECTION_WINDOW)
        # Flow-controlled bytes buffered in the streams, not yet consumed,
        # and the cap above which the connection window is not credited.
        self.unread = 0
        self.max_unread = max_unread
        # Flow-controlled bytes that arrived and are not yet reported to
        # conn_window (so not yet credited): those of the batch being
        # received, and all that came while over the cap.
        self._unreported = 0
        self.pings: deque[bytes] = deque()
        # True once the server's first SETTINGS frame has been applied.
        self.settings_seen = False
        # The server's first bytes, until they show a SETTINGS frame.
        self._preface_pending: bytes | None = b""
        # Promised pushes by parent stream ID, kept after the parent is done.
        self.pushes: dict[int, deque[Stream]] = {}
        # Bytes taken from h2's outbound buffer but not yet handed out.
        self._outbound = bytearray()

    # ------------------------------------------------------------------
    # Starting
    # ------------------------------------------------------------------

    def initiate(self) -> None:
        """Queue the connection preface and open the connection window."""
        self.h2.initiate_connection()
        self.h2.increment_flow_control_window(DEFAULT_CONNECTION_WINDOW - _H2_INITIAL_WINDOW)

    def begin_upgrade(self) -> bytes:
        """RFC 7540 section 3.2 (kept by RFC 9113 only as an option servers
        may support): the HTTP2-Settings value of an ``Upgrade: h2c``
        request, whose request becomes stream 1, half-closed from our side."""
        return self.h2.initiate_upgrade_connection() or b""

    def adopt_upgrade(self, request_headers: Headers, read_timeout: float | None) -> None:
        """The server switched protocols: stream 1 carries the response."""
        self.h2.increment_flow_control_window(DEFAULT_CONNECTION_WINDOW - _H2_INITIAL_WINDOW)
        # h2 did not see the request that carried the upgrade; a HEAD
        # response has no body whatever its Content-Length says.
        # (initiate_upgrade_connection() opened stream 1 in h2.)
        self.h2.streams[1].request_method = dict(request_headers).get(b":method")
        stream = self._new_stream(1, read_timeout, request_headers)
        stream.request_complete = True
        self.unclaimed.append(1)
        self.next_stream_id = 3

    # ------------------------------------------------------------------
    # Requests
    # ------------------------------------------------------------------

    def put_request(self, method: str, selector: str, read_timeout: float | None) -> int:
        """Reserve a stream ID for a request whose headers come later."""
        stream_id = self.next_stream_id
        self.next_stream_id += 2
        self.pending[stream_id] = (method, selector, [], read_timeout)
        self.last_put = stream_id
        return stream_id

    def pending_headers(self, stream_id: int | None) -> Headers:
        return self.pending[self._resolve_pending(stream_id)][2]

    def take_pending(self, stream_id: int | None) -> tuple[int, PendingRequest]:
        """A request started with put_request(), now to be sent."""
        sid = self._resolve_pending(stream_id)
        return sid, self.pending.pop(sid)

    def _resolve_pending(self, stream_id: int | None) -> int:
        sid = stream_id if stream_id is not None else self.last_put
        if sid is None or sid not in self.pending:
            raise LocalProtocolError(f"No request started with putrequest() on stream {sid}")
        return sid

    def capacity(self) -> int:
        """How many more streams may be opened now: hyper's one answer
        (the shell's ``stream_capacity()`` and :meth:`has_room` use it).

        RFC 9113 section 5.1.2: the server's MAX_CONCURRENT_STREAMS less the
        streams we opened that are still open (requests reserved with
        put_request() hold no slot until their headers go out). 0 once the
        connection takes no new stream (GOAWAY, failure, closed).

        Until the server's first SETTINGS arrive its limit is unknown (RFC
        9113 section 6.5.2: "initially, there is no limit"), and some servers
        answer a stream over their limit with a connection error; so only
        one stream may be open before then.
        """
        if not self.usable():
            return 0
        limit = self.h2.remote_settings.max_concurrent_streams if self.settings_seen else 1
        return max(0, limit - self.h2.open_outbound_streams)

    def has_room(self) -> bool:
        """May open_stream() be called now? When the connection takes no
        new stream, yes: open_stream() raises the right error."""
        return self.capacity() > 0 or not self.usable()

    def open_stream(
        self, stream_id: int | None, headers: Headers, end_now: bool,
        read_timeout: float | None,
    ) -> int:
        """Queue a request's HEADERS; ``stream_id`` None takes the next ID.
        Call only when :meth:`has_room` says so."""
        if stream_id is None:
            stream_id = self.next_stream_id
            self.next_stream_id += 2
        self.raise_if_failed()
        if self.going_away:
            raise StreamNotProcessedError(
                "The connection is going away (GOAWAY received, or its header compression "
                "state was lost); the request was not sent",
                stream_id=stream_id,
            )
        try:
            self.h2.send_headers(stream_id, headers, end_stream=end_now)
        except h2.exceptions.StreamIDTooLowError as exc:
            raise LocalProtocolError(
                f"Stream {stream_id} must be sent before streams opened after it"
            ) from exc
        except h2.exceptions.ProtocolError as exc:
            # (Not TooManyStreamsError: has_room() checked h2's own limit.)
            # h2 refuses invalid headers only while it encodes them, when its
            # HPACK encoder has already changed: the server's decoder no
            # longer matches, so no request may start here any more (those
            # in flight go on).
            self.going_away = True
            raise LocalProtocolError(
                f"Request cannot be sent: {exc}", stream_id=stream_id) from exc
        stream = self._new_stream(stream_id, read_timeout, headers)
        stream.request_complete = end_now
        self.unclaimed.append(stream_id)
        return stream_id

    def upload_stream(self, stream_id: int | None) -> Stream:
        """The stream of a request whose body is still being sent
        (default: the last one started with put_request())."""
        sid = stream_id if stream_id is not None else self.last_put
        stream = self.streams.get(sid) if sid is not None else None
        if stream is None or stream.request_complete:
            raise LocalProtocolError(f"No open request on stream {sid} to send data on")
        return stream

    def send_window(self, stream_id: int) -> int:
        """Bytes we may send now: -1 when the stream is gone (stop waiting)."""
        stream = self.streams.get(stream_id)
        if stream is None or stream.state is ResponseState.FAILED or self.failure:
            return -1
        if stream.request_complete:
            # Ended by us, or the server reset it after answering (RFC 9113
            # section 8.1): nothing more may be sent.
            return -1
        # Our side is still open, so h2's stream is too (a reset by either
        # side marks request_complete, or fails the stream).
        window: int = self.h2.local_flow_control_window(stream_id)
        if window <= 0 and stream.state is ResponseState.COMPLETE:
            # RFC 9113 section 8.1: the whole response came before the
            # request body did, and the server grants no more room for it:
            # it wants no more. Waiting would only run into the timeout.
            return -1
        # RFC 9113 section 6.9.2: a SETTINGS frame that lowers
        # INITIAL_WINDOW_SIZE "can cause the available space in a
        # flow-control window to become negative", and the sender "MUST NOT
        # send new flow-controlled frames until it receives WINDOW_UPDATE
        # frames that cause the flow-control window to become positive".
        # The stream is alive: wait, as for an empty window.
        return max(window, 0)

    def send_data(self, stream_id: int, view: memoryview, last: bool) -> int | None:
        """Queue as much of ``view`` as the windows allow, in frames as large
        as the server takes; END_STREAM on the last one when ``last`` and all
        of ``view`` fits. Returns how many bytes were queued, or None when
        the stream takes no more data (raises if it failed)."""
        stream = self._stream_for_upload(stream_id)
        if stream is None:
            return None
        size = min(self.send_window(stream_id), len(view))
        frame_size = self.h2.max_outbound_frame_size
        for start in range(0, size, frame_size):
            piece = view[start:min(start + frame_size, size)]
            end = last and start + len(piece) == len(view)
            self.h2.send_data(stream_id, piece.tobytes(), end_stream=end)
            stream.request_complete = end
        if last and size == len(view) and not stream.request_complete:
            self.end_stream(stream)
        return size

    def _stream_for_upload(self, stream_id: int) -> Stream | None:
        """The stream, if it can still take data; raises if it failed."""
        self.raise_if_failed()
        stream = self.streams.get(stream_id)
        if stream is None:
            return None
        if stream.state is ResponseState.FAILED and stream.error is not None:
            raise stream.error
        if self.send_window(stream_id) < 0:
            # RFC 9113 section 8.1: the server may answer (and close the
            # stream) before the request is complete; stop sending quietly.
            if not stream.request_complete:
                # Our half is still open: close it, or it holds one of the
                # server's stream slots for good.
                self._reset(stream_id, _ERROR_CODES.CANCEL)
            stream.request_complete = True
            return None
        return stream

    def finish_request(self, stream_id: int) -> None:
        """Send END_STREAM unless the request already ended."""
        stream = self.streams.get(stream_id)
        if stream is not None and not stream.request_complete:
            self.end_stream(stream)

    def end_stream(self, stream: Stream) -> None:
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.h2.end_stream(stream.stream_id)
        stream.request_complete = True

    def abort_upload(self, stream_id: int) -> None:
        """The body could not be sent: forget the stream, and reset it
        (RFC 9113 section 5.4.2) so that it neither holds a stream slot nor
        leaves the server waiting for the rest."""
        stream = self.streams.get(stream_id)
        with contextlib.suppress(ValueError):  # its response may be claimed
            self.unclaimed.remove(stream_id)
        if stream is None:
            return
        self._forget(stream)
        if not self._live():
            return
        stream.fail(ConnectionClosed("The request body could not be sent",
                                     stream_id=stream_id))
        self._reset(stream_id, _ERROR_CODES.CANCEL)

    # ------------------------------------------------------------------
    # Responses
    # ------------------------------------------------------------------

    def claim(self, stream_id: int | None) -> Stream:
        """The stream whose response the caller will read (default: the
        oldest unclaimed one); each response is claimed once."""
        if stream_id is None:
            if not self.unclaimed:
                raise LocalProtocolError("No request is waiting for its response")
            stream_id = self.unclaimed[0]
        stream = self.streams.get(stream_id)
        if stream is None or stream.response_taken:
            raise LocalProtocolError(f"No response to wait for on stream {stream_id}")
        stream.response_taken = True
        if stream_id in self.unclaimed:
            self.unclaimed.remove(stream_id)
        return stream

    def consume(self, stream: Stream) -> tuple[bytes | None, bool]:
        """The next piece of ``stream``'s body (None at its end), and whether
        consuming it queued a WINDOW_UPDATE. Call once ``data_ready``."""
        if not stream.data:
            if stream.state is ResponseState.FAILED:
                assert stream.error is not None
                raise stream.error
            return None, False
        payload, length = stream.data.popleft()
        self._consumed(stream, length)
        window = stream.window
        window.buffered_size = stream.unread
        increment = window._handle_frame(length)
        if increment and stream.state is ResponseState.RECEIVING_BODY:
            # (h2 refuses credit beyond 2^31-1; the manager's window, which
            # counts buffered bytes as still outstanding, never exceeds h2's.)
            with contextlib.suppress(h2.exceptions.ProtocolError):
                self.h2.increment_flow_control_window(increment, stream.stream_id)
        return payload, self._credit_connection() or bool(increment)

    def _consumed(self, stream: Stream, length: int) -> None:
        """``length`` flow-controlled bytes of ``stream`` left its buffer."""
        stream.unread -= length
        self.unread -= length

    def _credit_connection(self) -> bool:
        """Tell the connection's manager of the bytes that arrived since it
        last heard, unless the connection is over its cap of unread bytes
        (so that no credit bounds what it buffers for its caller); queue
        the WINDOW_UPDATE the manager asks for. Whether one was queued."""
        if not self._unreported or self.unread > self.max_unread:
            return False
        length, self._unreported = self._unreported, 0
        self.conn_window.buffered_size = self.unread
        increment = self.conn_window._handle_frame(length)
        if increment:
            self.h2.increment_flow_control_window(increment)
        return bool(increment)

    def cancel(self, stream: Stream, code: int) -> None:
        """Abandon a stream: reset it if still open, forget its buffers."""
        # (A stream is abandoned only once its response was asked for, so it
        # is no longer in unclaimed.)
        self._forget(stream)
        if stream.state in (ResponseState.COMPLETE, ResponseState.FAILED) and \
                stream.request_complete:
            return
        stream.fail(ConnectionClosed("The response was closed", stream_id=stream.stream_id))
        if self._live():
            # Some side of the stream is still open in h2 too: a reset or
            # both ends of it set request_complete and end the response.
            self._reset(stream.stream_id, code)

    def take_pushes(self, parent_ids: list[int]) -> list[Stream]:
        """The pushes promised on these streams so far, each handed out once."""
        return [self.pushes[p].popleft() for p in parent_ids
                for _ in range(len(self.pushes.get(p, ())))]

    # ------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------

    def receive(self, data: bytes) -> None:
        """Feed bytes from the server (b"": it closed the connection) to h2
        and apply the events to the streams they belong to."""
        if not data:
            self.fail(ConnectionClosed(
                "The server closed the connection" +
                (" after GOAWAY" if self.goaway_last_id is not None else "")))
            return
        if self._preface_pending is not None:
            data = self._check_server_preface(data)
            if not data:
                return
        # h2 empties its outbound buffer when a GOAWAY arrives, yet frames
        # other threads queued before it (the END_STREAM of an upload on a
        # stream the server will still process) must go out: keep them.
        self._outbound += self.h2.data_to_send()
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as exc:
            # h2 has queued a GOAWAY; the shell sends it before closing.
            self.fail(translate_protocol_error(exc))
            return
        for event in events:
            handler = _HANDLERS.get(type(event))
            if handler is not None:
                handler(self, event)
        # The connection's manager hears of each batch's DATA at once: one
        # call, and at most one WINDOW_UPDATE, per read from the socket.
        self._credit_connection()

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
        if is_server_preface(head, self.h2.max_inbound_frame_size):
            return head
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.close_connection(_ERROR_CODES.PROTOCOL_ERROR)
        self.fail(HTTP2ConnectionError(
            "The server did not start with a SETTINGS frame, so it does not speak "
            f"HTTP/2 here (first bytes: {head[:16]!r})",
            error_code=_ERROR_CODES.PROTOCOL_ERROR,
        ))
        return b""

    def _on_response(self, event: h2.events.ResponseReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.headers = list(event.headers or [])
            stream.apply(StreamInput.HEADERS)
            for name, value in stream.headers:
                if name == b"content-length" and value.isdigit():
                    stream.window.document_size = int(value)

    def _on_trailers(self, event: h2.events.TrailersReceived) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.trailers = list(event.headers or [])
            stream.apply(StreamInput.TRAILERS)

    def _on_data(self, event: h2.events.DataReceived) -> None:
        length: int = event.flow_controlled_length or 0
        self._unreported += length
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            # (h2 hands the frame's payload, already bytes: no copy.)
            stream.data.append((event.data or b"", length))
            stream.unread += length
            self.unread += length
            stream.apply(StreamInput.DATA)

    def _on_end(self, event: h2.events.StreamEnded) -> None:
        stream = self.streams.get(event.stream_id)
        if stream is not None:
            stream.apply(StreamInput.END)

    def _on_reset(self, event: h2.events.StreamReset) -> None:
        stream = self.streams.get(event.stream_id)
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
        parent = self.streams.get(int(event.parent_stream_id or 0))
        headers = list(event.headers or [])
        if parent is None or not self._authoritative(headers):
            # RFC 9113 section 8.4: a client "MUST treat a PUSH_PROMISE for
            # which the server is not authoritative as a stream error of type
            # PROTOCOL_ERROR".
            log.debug("Refusing push %d: %r", pushed_id, headers)
            self.h2.reset_stream(pushed_id, _ERROR_CODES.PROTOCOL_ERROR
                                 if parent is not None else _ERROR_CODES.CANCEL)
            return
        stream = self._new_stream(pushed_id, parent.read_timeout, headers)
        stream.request_complete = True
        self.pushes.setdefault(parent.stream_id, deque()).append(stream)

    def _authoritative(self, headers: Headers) -> bool:
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
        self.going_away = True
        self.goaway_last_id = last_id
        self.graceful_goaway |= code == _ERROR_CODES.NO_ERROR
        for stream in list(self.streams.values()):
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
            self.fail(HTTP2ConnectionError(
                f"The server ended the connection with {error_name(code)}"
                + (f": {extra.decode('utf-8', 'replace')}" if extra else ""),
                error_code=code,
            ))

    def _on_settings(self, event: h2.events.RemoteSettingsChanged) -> None:
        self.settings_seen = True

    def _on_ping_ack(self, event: h2.events.PingAckReceived) -> None:
        self.pings.append(bytes(event.ping_data or b""))

    # ------------------------------------------------------------------
    # The connection as a whole
    # ------------------------------------------------------------------

    def usable(self) -> bool:
        return not (self.closed or self.going_away or self.failure is not None)

    def idle(self) -> bool:
        """True when no stream is open and no response is left unread."""
        return not self.streams and not self.pending

    def ping(self, opaque_data: bytes) -> None:
        self.raise_if_failed()
        self.h2.ping(opaque_data)

    def close(self, error_code: int | None, connected: bool) -> bytes:
        """Close: fail what is unread; return the last bytes to send (GOAWAY)."""
        self.closed = True
        error = ConnectionClosed("The connection was closed by the client")
        for stream in self.streams.values():
            stream.fail(error)
        if not connected or self.failure is not None:
            return b""
        with contextlib.suppress(h2.exceptions.ProtocolError):
            self.h2.close_connection(error_code or 0)
        return self.take_outbound()

    def take_outbound(self) -> bytes:
        """Everything queued for the server, in the order h2 produced it
        (HPACK state depends on that order)."""
        data = bytes(self._outbound) + self.h2.data_to_send()
        self._outbound.clear()
        return data

    def fail(self, error: HyperError) -> None:
        """The connection is broken: every stream not complete fails."""
        if self.failure is None:
            self.failure = error
            self.broke_after_goaway = self.graceful_goaway
        for stream in self.streams.values():
            stream.fail(error)

    def raise_if_failed(self) -> None:
        if self.failure is not None:
            raise self.failure
        if self.closed:
            raise ConnectionClosed("The connection was closed by the client")

    def _reset(self, stream_id: int, code: int) -> None:
        """Queue RST_STREAM, once: a stream already closed in h2 (reset by
        either side, or ended by both) needs nothing more, so resetting it
        again is a no-op rather than h2's StreamClosedError."""
        with contextlib.suppress(h2.exceptions.StreamClosedError):
            self.h2.reset_stream(stream_id, code)

    def _live(self) -> bool:
        """Neither closed nor failed: frames queued now will be sent."""
        return not self.closed and self.failure is None

    def _forget(self, stream: Stream) -> None:
        """Drop a stream and whatever it buffered; credit the connection
        for those bytes if they held it back."""
        if self.streams.get(stream.stream_id) is stream:
            del self.streams[stream.stream_id]
        self._consumed(stream, stream.unread)
        stream.data.clear()
        self._credit_connection()

    def _new_stream(self, stream_id: int, read_timeout: float | None,
                    request_headers: Headers) -> Stream:
        initial = self.h2.local_settings.initial_window_size
        stream = Stream(stream_id, self.window_manager_class(initial), read_timeout,
                        request_headers)
        self.streams[stream_id] = stream
        return stream


_HANDLERS: dict[type, Callable[[ClientState, Any], None]] = {
    h2.events.ResponseReceived: ClientState._on_response,
    h2.events.TrailersReceived: ClientState._on_trailers,
    h2.events.DataReceived: ClientState._on_data,
    h2.events.StreamEnded: ClientState._on_end,
    h2.events.StreamReset: ClientState._on_reset,
    h2.events.PushedStreamReceived: ClientState._on_push,
    h2.events.ConnectionTerminated: ClientState._on_goaway,
    h2.events.PingAckReceived: ClientState._on_ping_ack,
    h2.events.RemoteSettingsChanged: ClientState._on_settings,
}
