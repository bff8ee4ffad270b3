"""HTTP11Connection: one HTTP/1.1 connection on h11, kept alive between requests.

hyper writes the request head (see ``head.py``); h11 tracks the exchange,
frames the request body and parses the response; this module owns the
socket, the timeouts and the translation of h11's and the socket's errors
into hyper's tree. One exchange runs at a time (no pipelining): threads
sharing the connection queue for it (see ``exchange.py``).

Every socket operation and every call into h11 happens under ``_io_lock``
and checks first that its exchange still owns the connection, so a socket
is never used by two threads at once and a response left behind by a
closed exchange never reads the bytes of the next one.

A kept-alive connection is reused only when it is clean: a response that
ends with bytes after it (an answer nobody asked for) or an idle socket
that turned readable (the server closed it, or sent something unasked)
makes it unusable, and the next request opens a new one -- as does a
connection the server ended (``Connection: close``, HTTP/1.0).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union

import h11

from ..common.body import BodyArg, iter_body, known_length
from ..common.timeouts import Deadline, TimeoutArg, TimeoutConfig
from ..common.transport import ProxyArg, open_transport, proxy_config, wait_readable
from ..common.util import HeadersArg, authority, normalize_headers, split_host_port
from ..exceptions import (
    ConnectionClosed,
    HTTP11Error,
    HyperError,
    InvalidChunkedBodyError,
    InvalidContentLengthError,
    LocalProtocolError,
    ReadTimeout,
    WriteTimeout,
)
from .exchange import ExchangeGate, Step
from .head import for_h11, request_head

if TYPE_CHECKING:
    from .response import HTTP11Response

H11Event = Union[h11.Event, type[h11.NEED_DATA], type[h11.PAUSED]]

#: At most this many fields in a response head, as http.client
#: (``http.client._MAXHEADERS``).
MAX_HEADERS = 100

# The first bytes of a TLS record (content type 20-23, version 3.x): a TLS
# server's answer to a plaintext request.
_TLS_RECORD_TYPES = frozenset(range(0x14, 0x18))


class HTTP11Connection:
    """A single HTTP/1.1 connection to a server; threads may share it (their
    requests then go one after the other)."""

    version = 11

    def __init__(
        self,
        host: str,
        port: int | None = None,
        secure: bool | None = None,
        ssl_context: ssl.SSLContext | None = None,
        proxy_host: ProxyArg = None,
        proxy_port: int | None = None,
        proxy_headers: HeadersArg = None,
        timeout: TimeoutArg = None,
        max_headers: float = MAX_HEADERS,
        **kwargs: Any,
    ) -> None:
        self.host, self.port = split_host_port(host, port, 80)
        self.secure = secure if secure is not None else self.port == 443
        self.authority = authority(self.host, self.port, self.secure)
        self.ssl_context = ssl_context
        self.timeout = TimeoutConfig.from_arg(timeout)
        self.proxy = proxy_config(proxy_host, proxy_port, proxy_headers)
        #: The most fields a response head may have (HTTPie's --max-headers).
        self.max_headers = max_headers
        #: The size of the buffer used for each read from the socket.
        self.network_buffer_size: int = int(kwargs.pop("network_buffer_size", 65536))
        self._sock: socket.socket | None = kwargs.pop("sock", None)
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(kwargs))}")
        self._h11 = h11.Connection(our_role=h11.CLIENT)
        self._gate = ExchangeGate()
        self._io_lock = threading.Lock()
        self._read_timeout: float | None = self.timeout.read
        # True once the socket went to HTTP/2 (101 Switching Protocols).
        self._handed_over = False
        # True once the socket carried a whole exchange (so it being
        # readable while idle means trouble, not a TLS session ticket).
        self._reused = False
        self._held_head: h11.Response | None = None
        # Whether the exchange's request is HEAD (its answer has no body).
        self._head_request = False
        # Whether the response being read is chunked (to name its errors).
        self._chunked = False
        # Whether it carries both Transfer-Encoding and Content-Length.
        self._ambiguous = False
        # True once the server closed its side (h11 then reports errors
        # that really mean "the connection closed too early").
        self._eof: bool = False

    # -- connecting ---------------------------------------------------------

    def connect(self) -> None:
        """Connect to the server; a no-op if already connected."""
        with self._io_lock:
            self._connect()

    def _connect(self) -> None:
        if self._sock is not None:
            return
        if self._handed_over:
            raise LocalProtocolError(
                "This HTTP/1.1 connection switched to HTTP/2; use the HTTP/2 connection")
        if self.secure and self.ssl_context is None:
            from ..tls import init_context

            self.ssl_context = init_context()
        transport = open_transport(
            self.host,
            self.port,
            secure=self.secure,
            ssl_context=self.ssl_context,
            proxy=self.proxy,
            connect_timeout=self.timeout.connect,
        )
        self._sock = transport.sock
        self._h11 = h11.Connection(our_role=h11.CLIENT)

    # -- requests -----------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
    ) -> None:
        """Send a request. Returns None (HTTP/1.1 has no stream IDs).

        A body of unknown length (a file or an iterable) is sent chunked
        unless a Content-Length header is given. While another thread's
        exchange runs on this connection, waits for it to end (up to the
        connect timeout, then :class:`~hyper.exceptions.PoolTimeout`).
        """
        config = TimeoutConfig.from_arg(timeout) if timeout is not None else self.timeout
        self._send_request(method, url, body, normalize_headers(headers, http11=True), config)

    def _send_request(
        self,
        method: str,
        url: str,
        body: BodyArg,
        headers: list[tuple[bytes, bytes]],
        config: TimeoutConfig,
    ) -> None:
        request, head = self._build_request(method, url, body, headers)
        number = self._gate.begin(config.connect)
        try:
            with self._io(number):
                self._get_ready()
                self._read_timeout = config.read
                self._head_request = request.method == b"HEAD"
                self._h11.send(request)  # (h11 tracks the state; the head is ours)
                self._write(head, Deadline(config.read))
            for chunk in iter_body(body):
                with self._io(number):
                    self._write(self._h11.send(h11.Data(data=chunk)), Deadline(config.read))
            with self._io(number):
                self._write(self._h11.send(h11.EndOfMessage()), Deadline(config.read))
        except (ConnectionClosed, WriteTimeout) as exc:
            self._keep_early_response(number, exc)
        except h11.LocalProtocolError as exc:
            # (A body longer than its Content-Length, say.)
            self._fail(number)
            raise LocalProtocolError(f"Request cannot be sent: {exc}") from exc
        except BaseException:
            self._fail(number)
            raise
        self._gate.advance(number, Step.SENT)

    def _build_request(
        self,
        method: str,
        url: str,
        body: BodyArg,
        headers: list[tuple[bytes, bytes]],
    ) -> tuple[h11.Request, bytes]:
        """The request for h11 and the head to send; nothing is sent yet."""
        names = {name.lower() for name, _ in headers}
        # Host first and capitalised, as http.client sends it.
        full = [] if b"host" in names else [(b"Host", self.authority.encode("idna"))]
        full.extend(headers)
        if b"content-length" not in names and b"transfer-encoding" not in names:
            length = known_length(body)
            if length is None:
                full.append((b"Transfer-Encoding", b"chunked"))
            elif length or method.upper() in ("POST", "PUT", "PATCH"):
                full.append((b"Content-Length", str(length).encode()))
        target = url or "/"
        if self.proxy is not None and self.proxy.forwards and not self.secure:
            # RFC 9112 section 3.2.2: requests to a proxy use the absolute form.
            target = f"http://{self.authority}{target}"
            full.extend(self.proxy.headers)
        try:
            request = h11.Request(method=method.encode("ascii"), target=target.encode("utf-8"),
                                  headers=for_h11(full))
        except h11.LocalProtocolError as exc:
            raise LocalProtocolError(f"Request cannot be sent: {exc}") from exc
        return request, request_head(request.method, request.target, full)

    def _get_ready(self) -> None:
        """Make the socket ready for a new exchange: drop an idle connection
        that is not clean, connect if needed. (One the server ended was
        dropped when its last response ended, see _finish.)"""
        sock = self._sock
        if sock is not None and self._reused and wait_readable(sock, 0):
            # RFC 9112 section 9.3: the server may close an idle connection
            # at any time; anything else arriving unasked is not ours to
            # read. Either way this connection can carry no more requests.
            self._drop_socket()
        self._connect()

    def _keep_early_response(self, number: int, error: ConnectionClosed | WriteTimeout) -> None:
        """The server stopped taking the request: keep the answer it may have
        sent first for get_response(), or raise ``error``.

        RFC 9112 section 9.5: "A client sending a message body SHOULD monitor
        the network connection for an error response while it is
        transmitting the request." A server refusing a body (413, 401) often
        answers and then closes, or just stops reading the rest.
        """
        head = None
        with contextlib.suppress(HyperError), self._io(number):
            sock = self._sock
            assert sock is not None  # (the write that failed had it)
            # After a lost connection whatever came is read at once; after a
            # write timeout only an answer already there is waited for.
            if isinstance(error, ConnectionClosed) or wait_readable(sock, 0):
                head = self._read_head()
        if not isinstance(head, h11.Response):
            self._fail(number)
            raise error
        self._hold_response(head)

    def get_response(self) -> HTTP11Response:
        """Wait for the response headers (skipping 1xx) and return an
        HTTP11Response; only the thread that sent the request can."""
        from .response import HTTP11Response

        number = self._gate.awaiting_mine()
        held, self._held_head = self._held_head, None
        if held is None:
            with self._io(number):
                head = self._read_head()
        else:
            head = held
        if not isinstance(head, h11.Response):
            self._fail(number)
            raise HTTP11Error(f"The server switched protocols unasked ({head.status_code})")
        self._gate.advance(number, Step.HEAD)
        empty = self._empty_body(head)
        if empty:
            # An answer to HEAD, a 204 or 304, a Content-Length of 0: the
            # exchange is over with its head (http.client closes such a
            # response at once), so the next request need not wait for a
            # read() nobody will call. h11 ends such a body without reading.
            with self._io(number):
                event = self._next_event()
                assert isinstance(event, h11.EndOfMessage)
                self._finish(number)
        version = 10 if head.http_version == b"1.0" else 11
        # The reason phrase without the blanks around it, as http.client
        # gives it ("200  OK" is "OK").
        reason = head.reason.decode("latin-1").strip()
        return HTTP11Response(head.status_code, reason,
                              head.headers.raw_items(), self, number, version, ended=empty)

    def _empty_body(self, head: h11.Response) -> bool:
        """Whether the response has no body at all (RFC 9112 section 6.3,
        points 1 and 6)."""
        if self._head_request or head.status_code in (204, 304):
            return True
        return any(name == b"content-length" and value == b"0" for name, value in head.headers)

    def _next_response_head(self) -> h11.Response | h11.InformationalResponse:
        """The calling thread's final response head, or a 101 (used by
        HTTPConnection for its h2c upgrade)."""
        with self._io(self._gate.awaiting_mine()):
            return self._read_head()

    def _read_head(self) -> h11.Response | h11.InformationalResponse:
        """The final response, or a 101 when a protocol switch was proposed."""
        while True:
            event = self._next_event()
            # Before its final response a server can only send interim ones:
            # h11 raises RemoteProtocolError on anything else.
            assert isinstance(event, (h11.Response, h11.InformationalResponse))
            if len(event.headers) > self.max_headers:
                self._fail()
                raise HTTP11Error(
                    f"got more than {self.max_headers} headers in the response head "
                    "(raise max_headers to accept them)")
            if event.status_code == 101 or isinstance(event, h11.Response):
                names = {name for name, _ in event.headers}
                self._chunked = b"chunked" in b",".join(
                    value for name, value in event.headers if name == b"transfer-encoding")
                # RFC 9112 section 6.3: with both, Transfer-Encoding wins, but
                # the message "might indicate an attempt to perform request
                # smuggling ... or response splitting ... and ought to be
                # handled as an error": the connection is not used again.
                self._ambiguous = {b"transfer-encoding", b"content-length"} <= names
                return event
            # (An interim response: 100 Continue, 103 Early Hints.)

    def _hold_response(self, head: h11.Response) -> None:
        """Keep a response head read early (h2c upgrade declined) for get_response()."""
        self._held_head = head

    def _detach_after_switch(self) -> tuple[socket.socket, bytes]:
        """After 101 Switching Protocols: hand over the socket and any bytes
        already read past the 101 (they belong to the new protocol)."""
        with self._io_lock:
            sock, self._sock = self._sock, None
            # The 101 was just read from it.
            assert sock is not None
            leftover, _ = self._h11.trailing_data
            self._handed_over = True
            self._gate.end()
        return sock, bytes(leftover)

    def _next_event(self) -> H11Event:
        """The next h11 event, reading the socket as needed (bounded by the
        read timeout). Called under ``_io_lock``."""
        while True:
            state = self._h11.their_state
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                eof = self._h11.their_state is h11.ERROR and self._eof
                self._fail()
                raise self._remote_error(exc, state, eof) from exc
            if event is h11.NEED_DATA:
                data = self._recv()
                self._eof = not data
                if self._eof:
                    self._end_cut_head()
                self._h11.receive_data(data)
                self._refuse_tls_answer()
                continue
            # (No ConnectionClosed event: this is only called while a
            # response is due, and h11 reports an EOF then as an error, or
            # as the end of a body delimited by the close.)
            return event

    def _remote_error(self, exc: h11.RemoteProtocolError, state: object,
                      eof: bool) -> HyperError:
        """The hyper error for what h11 found wrong in the response."""
        if eof:
            return ConnectionClosed(f"The server closed the connection mid-message: {exc}")
        if state is h11.SEND_BODY and self._chunked:
            return InvalidChunkedBodyError(f"The server sent a broken chunked body: {exc}")
        if "conflicting Content-Length" in str(exc) or "bad Content-Length" in str(exc):
            # RFC 9112 section 6.3, point 5: a response with an invalid
            # Content-Length is an unrecoverable error.
            return InvalidContentLengthError(f"The server sent an invalid response head: {exc}")
        return HTTP11Error(f"The server broke HTTP/1.1: {exc}")

    def _end_cut_head(self) -> None:
        """The server closed after whole header lines but before the blank
        line that ends the head: end the head there, as http.client does,
        so that the response is seen and its body fails as incomplete
        (requests' users get ChunkedEncodingError, not a connection error).
        Only where the body is sure to fail (chunked, or a Content-Length
        above 0): a head cut before its framing, or one announcing no body,
        stays an error, so no cut response ever reads as complete. RFC 9112
        section 8: an incomplete message is recorded as such."""
        data, _ = self._h11.trailing_data
        if (self._h11.their_state is h11.SEND_RESPONSE and data.startswith(b"HTTP/")
                and data.endswith(b"\r\n") and _body_must_follow(bytes(data))):
            self._h11.receive_data(b"\r\n")

    def _refuse_tls_answer(self) -> None:
        """A plaintext request answered by a TLS record: say so plainly
        rather than "illegal status line"."""
        data, _ = self._h11.trailing_data
        if (not self.secure and self._h11.their_state is h11.SEND_RESPONSE
                and len(data) >= 2 and data[0] in _TLS_RECORD_TYPES and data[1] == 3):
            self._fail()
            raise HTTP11Error(f"{self.authority}: the server answered with TLS; use https://")

    def _read_body_piece(self, number: int) -> bytes | list[tuple[bytes, bytes]]:
        """Next piece of exchange ``number``'s body, or at its end the
        trailers (a list, maybe empty); used by HTTP11Response."""
        with self._io(number):
            event = self._next_event()
            if isinstance(event, h11.Data):
                return bytes(event.data)
            if isinstance(event, h11.EndOfMessage):
                self._finish(number)
                return list(event.headers.raw_items())
            # h11 pauses after a 2xx answer to CONNECT: what follows is a
            # tunnel, which this connection cannot carry on with; close it.
            self._fail(number)
            raise HTTP11Error(f"Unexpected {type(event).__name__} in the response body")

    def _finish(self, number: int) -> None:
        """The response ended: the connection is ready for the next exchange
        (or closed, if it cannot carry one)."""
        leftover, _ = self._h11.trailing_data
        if leftover or self._ambiguous:
            # Bytes after the end of the response: a response nobody asked
            # for. It must never be taken as the next request's answer.
            # (Nor may a connection whose framing was ambiguous be reused.)
            self._drop_socket()
        self._reset_if_reusable()
        self._reused = self._sock is not None
        self._gate.end(number)

    def _abandon_response(self, number: int) -> None:
        """The reader of exchange ``number`` gave up on its body: the
        connection can't be reused (no-op if that exchange already ended)."""
        with self._io_lock:
            if self._gate.end(number):
                self._drop_socket()

    def _reset_if_reusable(self) -> None:
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        elif self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.SEND_BODY) or \
                self._h11.their_state in (h11.MUST_CLOSE, h11.CLOSED):
            # (MUST_CLOSE: the server ends the connection after this
            # response -- Connection: close, HTTP/1.0 -- so the next request
            # opens a new one. SEND_BODY: our request was cut short, by an
            # early answer or a body that failed.)
            self._drop_socket()

    # -- socket -------------------------------------------------------------

    @contextlib.contextmanager
    def _io(self, number: int) -> Iterator[None]:
        """Hold the socket and h11 for exchange ``number``; ConnectionClosed
        if it ended meanwhile (the connection was closed under it)."""
        with self._io_lock:
            self._gate.check_current(number)
            yield

    def _write(self, data: bytes | None, deadline: Deadline) -> None:
        sock = self._sock
        # (Every exchange connects first; a closed connection ends it.)
        assert sock is not None
        if not data:
            return
        try:
            sock.settimeout(deadline.remaining())
            sock.sendall(data)
        except (socket.timeout, BlockingIOError, ssl.SSLWantWriteError) as exc:
            # (At a deadline already reached the socket is non-blocking: a
            # full send buffer then raises instead of timing out.) The socket
            # stays open here and below: the server may have answered
            # before it stopped reading (see _keep_early_response).
            raise WriteTimeout("Timed out sending the request") from exc
        except OSError as exc:
            raise ConnectionClosed(f"The connection was lost while sending: {exc}") from exc

    def _recv(self) -> bytes:
        sock = self._sock
        assert sock is not None
        try:
            sock.settimeout(self._read_timeout)
            return sock.recv(self.network_buffer_size)
        except socket.timeout as exc:
            self._fail()
            raise ReadTimeout(f"The server sent nothing for {self._read_timeout} s") from exc
        except OSError as exc:
            self._fail()
            raise ConnectionClosed(f"The connection was lost: {exc}") from exc

    def _fail(self, number: int | None = None) -> None:
        """The exchange (``number``, or the running one) failed: close the
        connection and let the next one go. Under ``_io_lock`` or not."""
        if self._gate.end(number) or number is None:
            self._drop_socket()

    def _drop_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._h11 = h11.Connection(our_role=h11.CLIENT)
        self._eof = False
        self._reused = False
        self._held_head = None
        if sock is not None:
            sock.close()

    # -- state for the pool ------------------------------------------------------

    def is_usable(self) -> bool:
        return not self._handed_over

    def is_idle(self) -> bool:
        return self._gate.idle

    def stream_capacity(self) -> int:
        return 1 if self.is_idle() and not self._handed_over else 0

    def check_alive(self) -> bool:
        """False when an idle keep-alive connection turned out closed by the
        server (or it sent something unasked), which is then dropped."""
        if self._handed_over:
            return False
        number = self._gate.try_begin()
        if number is None:
            return True  # in use by an exchange
        try:
            with self._io_lock:
                sock = self._sock
                if sock is None or not wait_readable(sock, 0):
                    return True
                # The object stays usable: the next request reconnects.
                self._drop_socket()
                return False
        finally:
            self._gate.end(number)

    def close(self) -> None:
        """Close the connection (from any thread); a later request reconnects.

        An exchange running in another thread fails with ConnectionClosed:
        its socket is shut down first, which wakes a thread blocked reading
        it, so that it is closed only once no thread uses it.
        """
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown: an SSLSocket's would drop its
                # TLS state under the feet of a thread reading it.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)
        with self._io_lock:
            self._gate.end()
            self._drop_socket()

    def __enter__(self) -> HTTP11Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _body_must_follow(head: bytes) -> bool:
    """Whether the header lines in ``head`` announce a body that cannot be
    complete yet: chunked, or a Content-Length above 0."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name, value = name.strip().lower(), value.strip().lower()
        if name == b"transfer-encoding" and value.endswith(b"chunked"):
            return True
        if name == b"content-length" and value.isdigit() and int(value) > 0:
            return True
    return False
