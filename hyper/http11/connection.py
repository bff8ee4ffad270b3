"""HTTP11Connection: one HTTP/1.1 connection on h11, kept alive between requests.

h11 does the message framing; this module owns the socket, the timeouts and
the translation of h11's and the socket's errors into hyper's tree. One
request is in flight at a time (HTTP/1.1 pipelining is not used).
"""

from __future__ import annotations

import contextlib
import socket
import ssl
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
    LocalProtocolError,
    ReadTimeout,
    WriteTimeout,
)

if TYPE_CHECKING:
    from .response import HTTP11Response

H11Event = Union[h11.Event, type[h11.NEED_DATA], type[h11.PAUSED]]


class HTTP11Connection:
    """A single HTTP/1.1 connection to a server."""

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
        **kwargs: Any,
    ) -> None:
        self.host, self.port = split_host_port(host, port, 80)
        self.secure = secure if secure is not None else self.port == 443
        self.authority = authority(self.host, self.port, self.secure)
        self.ssl_context = ssl_context
        self.timeout = TimeoutConfig.from_arg(timeout)
        self.proxy = proxy_config(proxy_host, proxy_port, proxy_headers)
        #: The size of the buffer used for each read from the socket.
        self.network_buffer_size: int = int(kwargs.pop("network_buffer_size", 65536))
        self._sock: socket.socket | None = kwargs.pop("sock", None)
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(kwargs))}")
        self._h11 = h11.Connection(our_role=h11.CLIENT)
        self._read_timeout: float | None = self.timeout.read
        self._response_pending = False
        # True once the socket went to HTTP/2 (101 Switching Protocols).
        self._handed_over = False
        self._trailers: list[tuple[bytes, bytes]] = []
        self._held_head: h11.Response | None = None
        # True once the server closed its side (h11 then reports errors
        # that really mean "the connection closed too early").
        self._eof: bool = False

    # -- connecting ---------------------------------------------------------

    def connect(self) -> None:
        """Connect to the server; a no-op if already connected."""
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
        unless a Content-Length header is given.
        """
        config = TimeoutConfig.from_arg(timeout) if timeout is not None else self.timeout
        self._send_request(method, url, body, normalize_headers(headers), config)

    def _send_request(
        self,
        method: str,
        url: str,
        body: BodyArg,
        headers: list[tuple[bytes, bytes]],
        config: TimeoutConfig,
    ) -> None:
        if self._response_pending:
            raise LocalProtocolError(
                "Read the previous response before sending another request on this connection"
            )
        self._reset_if_reusable()
        if self._sock is None:
            self.connect()
        self._read_timeout = config.read
        names = {name.lower() for name, _ in headers}
        full: list[tuple[bytes, bytes]] = []
        if b"host" not in names:
            full.append((b"host", self.authority.encode("idna")))
        full.extend(headers)
        if b"content-length" not in names and b"transfer-encoding" not in names:
            length = known_length(body)
            if length is None:
                full.append((b"transfer-encoding", b"chunked"))
            elif length or method.upper() in ("POST", "PUT", "PATCH"):
                full.append((b"content-length", str(length).encode()))
        target = url or "/"
        if self.proxy is not None and self.proxy.forwards and not self.secure:
            # RFC 9112 section 3.2.2: requests to a proxy use the absolute form.
            target = f"http://{self.authority}{target}"
            full.extend(self.proxy.headers)
        deadline = Deadline(config.read)
        try:
            request = h11.Request(method=method.encode("ascii"), target=target.encode("utf-8"),
                                  headers=full)
            self._write(self._h11.send(request), deadline)
            for chunk in iter_body(body):
                deadline = Deadline(config.read)
                self._write(self._h11.send(h11.Data(data=chunk)), deadline)
            self._write(self._h11.send(h11.EndOfMessage()), deadline)
        except h11.LocalProtocolError as exc:
            self._close_socket()
            raise LocalProtocolError(f"Request cannot be sent: {exc}") from exc
        except (ConnectionClosed, WriteTimeout) as exc:
            self._keep_early_response(exc)
        self._response_pending = True

    def _keep_early_response(self, error: ConnectionClosed | WriteTimeout) -> None:
        """The server stopped taking the request: keep the answer it may have
        sent first for get_response(), or raise ``error``.

        RFC 9112 section 9.5: "A client sending a message body SHOULD monitor
        the network connection for an error response while it is
        transmitting the request." A server refusing a body (413, 401) often
        answers and then closes, or just stops reading the rest.
        """
        sock = self._sock
        head = None
        # After a lost connection whatever came is read at once; after a
        # write timeout only an answer already there is waited for.
        if sock is not None and (isinstance(error, ConnectionClosed) or wait_readable(sock, 0)):
            self._response_pending = True
            with contextlib.suppress(HyperError):
                head = self._next_response_head()
        if not isinstance(head, h11.Response):
            self._response_pending = False
            self._close_socket()
            raise error
        self._hold_response(head)

    def get_response(self) -> HTTP11Response:
        """Wait for the response headers (skipping 1xx) and return an HTTP11Response."""
        from .response import HTTP11Response

        held, self._held_head = self._held_head, None
        event = held if held is not None else self._next_response_head()
        if not isinstance(event, h11.Response):
            raise HTTP11Error(f"The server switched protocols unasked ({event.status_code})")
        return HTTP11Response(event.status_code, event.reason.decode("latin-1"),
                              event.headers.raw_items(), self)

    def _next_response_head(self) -> h11.Response | h11.InformationalResponse:
        """The final response, or a 101 when a protocol switch was proposed."""
        if not self._response_pending:
            raise LocalProtocolError("No request is waiting for its response")
        while True:
            event = self._next_event()
            if isinstance(event, h11.InformationalResponse) and event.status_code != 101:
                continue  # an interim response (100 Continue, 103 Early Hints)
            # Before its final response a server can only send interim ones:
            # h11 raises RemoteProtocolError on anything else.
            assert isinstance(event, (h11.Response, h11.InformationalResponse))
            return event

    def _hold_response(self, head: h11.Response) -> None:
        """Keep a response head read early (h2c upgrade declined) for get_response()."""
        self._held_head = head

    def _detach_after_switch(self) -> tuple[socket.socket, bytes]:
        """After 101 Switching Protocols: hand over the socket and any bytes
        already read past the 101 (they belong to the new protocol)."""
        sock, self._sock = self._sock, None
        # The 101 was just read from it.
        assert sock is not None
        leftover, _ = self._h11.trailing_data
        self._response_pending = False
        self._handed_over = True
        return sock, bytes(leftover)

    def _next_event(self) -> H11Event:
        """The next h11 event, reading the socket as needed (bounded by the read timeout)."""
        while True:
            try:
                event = self._h11.next_event()
            except h11.RemoteProtocolError as exc:
                eof = self._h11.their_state is h11.ERROR and self._eof
                self._close_socket()
                if eof:
                    raise ConnectionClosed(
                        f"The server closed the connection mid-message: {exc}") from exc
                raise HTTP11Error(f"The server broke HTTP/1.1: {exc}") from exc
            if event is h11.NEED_DATA:
                data = self._recv()
                self._eof = not data
                self._h11.receive_data(data)
                continue
            # (No ConnectionClosed event: this is only called while a
            # response is due, and h11 reports an EOF then as an error, or
            # as the end of a body delimited by the close.)
            return event

    def _read_body_piece(self) -> bytes | None:
        """Next piece of the body, or None at its end (used by HTTP11Response)."""
        event = self._next_event()
        if isinstance(event, h11.Data):
            return bytes(event.data)
        if isinstance(event, h11.EndOfMessage):
            self._trailers = list(event.headers.raw_items())
            self._response_pending = False
            self._reset_if_reusable()
            return None
        # h11 pauses after a 2xx answer to CONNECT: what follows is a tunnel,
        # which this connection cannot carry on with; close it.
        self._abandon_response()
        raise HTTP11Error(f"Unexpected {type(event).__name__} in the response body")

    def _abandon_response(self) -> None:
        """The caller gave up on the body: the connection can't be reused."""
        self._response_pending = False
        self._close_socket()

    def _reset_if_reusable(self) -> None:
        if self._h11.our_state is h11.DONE and self._h11.their_state is h11.DONE:
            self._h11.start_next_cycle()
        elif self._h11.our_state in (h11.MUST_CLOSE, h11.CLOSED, h11.SEND_BODY) or \
                self._h11.their_state in (h11.MUST_CLOSE, h11.CLOSED):
            # (SEND_BODY: our request was cut short, by an early answer or a
            # body that failed; the connection can carry no other.)
            self._close_socket()

    # -- socket -------------------------------------------------------------

    def _write(self, data: bytes | None, deadline: Deadline) -> None:
        sock = self._sock
        if not data or sock is None:
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
        if sock is None:
            raise ConnectionClosed("The connection is closed")
        try:
            sock.settimeout(self._read_timeout)
            return sock.recv(self.network_buffer_size)
        except socket.timeout as exc:
            self._close_socket()
            raise ReadTimeout(f"The server sent nothing for {self._read_timeout} s") from exc
        except OSError as exc:
            self._close_socket()
            raise ConnectionClosed(f"The connection was lost: {exc}") from exc

    def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        self._h11 = h11.Connection(our_role=h11.CLIENT)
        self._eof = False
        if sock is not None:
            sock.close()

    # -- state for the pool ------------------------------------------------------

    def is_usable(self) -> bool:
        return not self._handed_over

    def is_idle(self) -> bool:
        return not self._response_pending

    def stream_capacity(self) -> int:
        return 1 if self.is_idle() and not self._handed_over else 0

    def check_alive(self) -> bool:
        """False when an idle keep-alive connection turned out closed by the
        server (or it sent something unasked), which is then dropped."""
        sock = self._sock
        if self._handed_over:
            return False
        if sock is None or self._response_pending:
            return True
        if wait_readable(sock, 0):
            # The server closed the idle connection (or sent garbage): drop
            # it. The object stays usable: the next request reconnects.
            self._close_socket()
            return False
        return True

    def close(self) -> None:
        """Close the connection; a later request reconnects."""
        self._response_pending = False
        self._close_socket()

    def __enter__(self) -> HTTP11Connection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
