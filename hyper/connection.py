"""HTTPConnection: speaks HTTP/2 where the server does, HTTP/1.1 otherwise.

How the protocol is chosen:

* over TLS, by ALPN (RFC 7301): the server picks ``h2`` or ``http/1.1``;
* over plaintext, by ``h2c``: ``"prior-knowledge"`` starts HTTP/2 at once
  (RFC 9113 section 3.3), ``"off"`` uses HTTP/1.1, and ``"upgrade"`` (the
  default) sends the first request (if it has no body) as HTTP/1.1 with
  ``Upgrade: h2c``; a ``101 Switching Protocols`` answer switches the
  connection to HTTP/2 and the response arrives on stream 1 (RFC 7540
  section 3.2), any other answer keeps HTTP/1.1;
* through a plain HTTP proxy, HTTP/1.1 (the proxy speaks to the origin).

Reconnecting. Servers end connections they no longer want: a graceful
GOAWAY (nginx after ``keepalive_requests``), ``Connection: close``, an idle
close. Like http.client, an HTTPConnection then opens a new connection for
the next request, negotiating again (ALPN; over plaintext per ``h2c``). The
old connection finishes the streams the server kept and is closed once they
are read. A request the server certainly did not process (RFC 9113 section
6.8: streams above GOAWAY's ``last_stream_id``; section 8.7:
REFUSED_STREAM) is sent again on the new connection when its body can be
sent again (None, bytes, str), at most :data:`MAX_RESENDS` times; otherwise
its error is raised, with ``retry_safe`` saying whether a retry is safe.
So is a request with an idempotent method whose response had not begun
when the connection, already ending by a graceful GOAWAY, failed (RFC 9110
section 9.2.2: such a request "can be repeated automatically if a
communication failure occurs before the client is able to read the
server's response"): some servers (hypercorn) answer streams that crossed
their GOAWAY with a connection error, which also ends the streams they had
promised to finish.

Request IDs. ``request()`` returns an ID for ``get_response()``: on the
first connection it is the HTTP/2 stream ID; requests sent on a later
connection get IDs above ``2**31`` (stream IDs never reach it), so an ID
never names two requests. ``response.stream_id`` is always the real stream.
"""

from __future__ import annotations

import contextlib
import enum
import itertools
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Union

import h11

from .common.body import BodyArg, known_length
from .common.settings import H2CMode
from .common.timeouts import TimeoutArg, TimeoutConfig
from .common.transport import ProxyArg, open_transport, proxy_config
from .common.util import HeadersArg, normalize_headers, split_host_port
from .exceptions import (
    ConnectionClosed,
    HTTP2ConnectionError,
    HyperError,
    InvalidHeaderError,
    InvalidURLError,
    LocalProtocolError,
    RemoteProtocolError,
)
from .http11.connection import HTTP11Connection
from .http20.connection import HTTP20Connection
from .http20.window import BaseFlowControlManager

if TYPE_CHECKING:
    from .http11.response import HTTP11Response
    from .http20.response import HTTP20Push, HTTP20Response

AnyConnection = Union[HTTP20Connection, HTTP11Connection]

#: How often one request is sent again after the server did not process it.
#: Each time, the server processed other requests first (GOAWAY) or refused
#: it outright (REFUSED_STREAM); the bound stops a server that refuses all.
MAX_RESENDS = 10

# RFC 9110 section 9.2.2.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

# Request IDs of the n-th connection start at n * _ID_SPAN (stream IDs are
# 31-bit, RFC 9113 section 5.1.1).
_ID_SPAN = 2 ** 31


class Protocol(enum.Enum):
    """What the connection speaks: known after connecting, except while an
    h2c upgrade is pending."""

    NOT_CONNECTED = "not connected"
    UPGRADE_PENDING = "upgrade pending"
    HTTP2 = "h2"
    HTTP11 = "http/1.1"


@dataclass
class _Sent:
    """A request, where it went, and what is needed to send it again."""

    method: str
    url: str
    body: BodyArg
    headers: list[tuple[bytes, bytes]]  # normalised once
    timeout: TimeoutArg
    conn: AnyConnection | None = None
    stream_id: int | None = None
    # HTTPConnection.close() calls before it was sent: a request cut off by
    # the user's close() is not sent again.
    epoch: int = 0

    @property
    def replayable(self) -> bool:
        return self.body is None or isinstance(self.body, (bytes, str))


class HTTPConnection:
    """A connection that uses HTTP/2 where the server supports it.

    ``request()`` returns an ID for ``get_response()`` on HTTP/2 (the stream
    ID on the first connection), or None on HTTP/1.1. Thread-safe on HTTP/2.
    """

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
        proxy_headers: HeadersArg = None,
        timeout: TimeoutArg = None,
        h2c: str | H2CMode = H2CMode.UPGRADE,
        reconnect: bool = True,
        max_headers: float | None = None,
        **kwargs: Any,
    ) -> None:
        self.host, self.port = split_host_port(host, port, 80)
        self.secure = secure if secure is not None else self.port == 443
        try:
            self.h2c = H2CMode(h2c)
        except ValueError as exc:
            raise InvalidURLError(
                f"h2c must be 'upgrade', 'prior-knowledge' or 'off', not {h2c!r}") from exc
        self.ssl_context = ssl_context
        self.timeout = TimeoutConfig.from_arg(timeout)
        #: Open a new connection when the server ended the last one, and
        #: send unprocessed requests again (see the module docstring). A
        #: pool, which decides itself where requests go, turns it off.
        self.reconnect = reconnect
        #: HTTP/1.1: the most header fields a response head may have (None:
        #: HTTP11Connection's default, 100 as http.client's).
        self.max_headers = max_headers
        self._common: dict[str, Any] = dict(
            window_manager=window_manager, enable_push=enable_push, timeout=self.timeout,
            **kwargs)
        self._proxy_args: dict[str, Any] = {
            "proxy_host": proxy_host, "proxy_port": proxy_port, "proxy_headers": proxy_headers}
        self._proxy = proxy_config(proxy_host, proxy_port, proxy_headers)
        # Guards _conn, protocol and _generation; held while (re)connecting.
        self._lock = threading.Lock()
        self._conn: AnyConnection | None = None
        self.protocol = Protocol.NOT_CONNECTED
        # How many connections were opened before the current one.
        self._generation = -1
        # Guards _sent and _retired (never held while waiting).
        self._book_lock = threading.Lock()
        # Requests whose response nobody asked for yet, oldest first, by ID
        # (HTTP/1.1 requests, which return None, by a negative number).
        self._sent: dict[int, _Sent] = {}
        self._h1_ids = itertools.count(-1, -1)
        # Ended connections still finishing the streams the server kept.
        self._retired: list[AnyConnection] = []
        self._epoch = 0
        # True once the server switched to h2c by Upgrade: then it speaks
        # HTTP/2 over plaintext, and later connections start with prior
        # knowledge (RFC 9113 section 3.3: "A client that knows that a
        # server supports HTTP/2 can establish a TCP connection and send the
        # connection preface"). Apache httpd 2.4 ends every upgraded
        # connection after its first stream (GOAWAY, last stream 1), so
        # upgrading again would cost a connection per request.
        self._speaks_h2c = False

    # -- what was negotiated --------------------------------------------------

    @property
    def version(self) -> int | None:
        """20 for HTTP/2, 11 for HTTP/1.1, None before it is known."""
        return {Protocol.HTTP2: 20, Protocol.HTTP11: 11}.get(self.protocol)

    @property
    def negotiated_protocol(self) -> str | None:
        """"h2", "h2c", "http/1.1", or None before it is known."""
        if self.protocol is Protocol.HTTP2:
            return "h2" if self.secure else "h2c"
        if self.protocol is Protocol.HTTP11:
            return "http/1.1"
        return None

    @property
    def connection(self) -> AnyConnection | None:
        """The protocol-specific connection underneath (None before connect())."""
        return self._conn

    # -- connecting ---------------------------------------------------------------

    def connect(self) -> None:
        """Connect and, over TLS, negotiate the protocol. Thread-safe."""
        with self._lock:
            if self._conn is None:
                self._install()

    def _current(self) -> AnyConnection:
        """The connection to send the next request on, opened anew when the
        server ended the last one. Caller holds ``_lock``."""
        conn = self._conn
        if conn is not None and (not self.reconnect or not _ended(conn)):
            return conn
        if conn is not None:
            self._conn = None
            self.protocol = Protocol.NOT_CONNECTED
            with self._book_lock:
                self._retired.append(conn)
        return self._install()

    def _install(self) -> AnyConnection:
        conn = self._open()
        self._conn = conn
        self._generation += 1
        return conn

    def _open(self) -> AnyConnection:
        if self.secure:
            return self._open_tls()
        if self._proxy is not None or self.h2c is H2CMode.OFF:
            h1 = self._http11()
            h1.connect()
            self.protocol = Protocol.HTTP11
            return h1
        if self.h2c is H2CMode.PRIOR_KNOWLEDGE or self._speaks_h2c:
            conn = self._http2(secure=False)
            try:
                _connect_or_close(conn)
            except (HTTP2ConnectionError, ConnectionClosed):
                if self.h2c is H2CMode.PRIOR_KNOWLEDGE:
                    raise
                # It takes h2c by Upgrade only: back to that.
                self._speaks_h2c = False
                return self._open()
            self.protocol = Protocol.HTTP2
            return conn
        h1 = self._http11()
        h1.connect()
        self.protocol = Protocol.UPGRADE_PENDING
        return h1

    def _open_tls(self) -> AnyConnection:
        if self.ssl_context is None:
            from .tls import init_context

            self.ssl_context = init_context()
        transport = open_transport(
            self.host, self.port, secure=True, ssl_context=self.ssl_context,
            proxy=self._proxy, connect_timeout=self.timeout.connect)
        if transport.alpn == "h2":
            h2conn = self._http2(secure=True, sock=transport.sock)
            _connect_or_close(h2conn)
            self.protocol = Protocol.HTTP2
            return h2conn
        self.protocol = Protocol.HTTP11
        return self._http11(sock=transport.sock)

    def _http2(self, secure: bool, **extra: Any) -> HTTP20Connection:
        return HTTP20Connection(self.host, self.port, secure=secure,
                                ssl_context=self.ssl_context, **self._common, **extra)

    def _http11(self, **extra: Any) -> HTTP11Connection:
        common = {k: v for k, v in self._common.items()
                  if k not in ("window_manager", "enable_push")}
        if self.max_headers is not None:
            common["max_headers"] = self.max_headers
        return HTTP11Connection(self.host, self.port, secure=self.secure,
                                ssl_context=self.ssl_context, **self._proxy_args,
                                **common, **extra)

    # -- requests -------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
    ) -> int | None:
        """Send a request: an ID for get_response() over HTTP/2 (the stream ID
        on the first connection), None over HTTP/1.1."""
        self._close_finished()
        # (Normalised once: an iterator of pairs would be used up by the
        # first attempt.)
        sent = _Sent(method, url, body, normalize_headers(headers, http11=True), timeout,
                     epoch=self._epoch)
        generation = self._send(sent, resends=0)
        with self._book_lock:
            if sent.stream_id is None:
                self._sent[next(self._h1_ids)] = sent
                return None
            request_id = sent.stream_id + generation * _ID_SPAN
            self._sent[request_id] = sent
            return request_id

    def _send(self, sent: _Sent, resends: int) -> int:
        """Send ``sent`` on the current connection (opening one if the last
        ended), again on a new one while the server did not process it.
        Returns the generation of the connection it went on."""
        while True:
            with self._lock:
                conn = self._current()
                generation = self._generation
                if self.protocol is Protocol.UPGRADE_PENDING:
                    assert isinstance(conn, HTTP11Connection)
                    if known_length(sent.body) == 0 and _http2_can_carry(sent.headers):
                        self._request_with_upgrade(conn, sent)
                        return generation
                    self.protocol = Protocol.HTTP11
            sent.conn = conn
            try:
                sent.stream_id = conn.request(sent.method, sent.url, sent.body, sent.headers,
                                              timeout=sent.timeout)
            except HyperError as exc:
                resends += 1
                if not self._resend(exc, sent, resends):
                    raise
                continue
            return generation

    def _request_with_upgrade(self, h1: HTTP11Connection, sent: _Sent) -> None:
        """Send the first request with ``Upgrade: h2c`` and learn the protocol
        from its answer (the one case where request() waits for a response).
        Caller holds ``_lock``."""
        config = TimeoutConfig.from_arg(sent.timeout) if sent.timeout is not None \
            else self.timeout
        h2conn = self._http2(secure=False)
        settings = h2conn._begin_upgrade()
        given = [(n, v) for n, v in normalize_headers(sent.headers)
                 if n.lower() not in (b"connection", b"upgrade", b"http2-settings")]
        upgrade = [(b"Connection", b"Upgrade, HTTP2-Settings"), (b"Upgrade", b"h2c"),
                   (b"HTTP2-Settings", settings)]
        h1._send_request(sent.method, sent.url, None, given + upgrade, config)
        head = h1._next_response_head()
        if isinstance(head, h11.InformationalResponse):
            # RFC 9110 section 7.8: the server switches to the protocol its
            # Upgrade header names; only h2c was offered, and reading any
            # other protocol as HTTP/2 would just wait for frames that never
            # come.
            chosen = b", ".join(v for n, v in head.headers if n == b"upgrade")
            if chosen.strip().lower() != b"h2c":
                h1.close()
                self._conn = None
                self.protocol = Protocol.NOT_CONNECTED
                raise RemoteProtocolError(
                    f"The server switched to {chosen.decode('latin-1')!r} although only "
                    "'h2c' was offered (101 Switching Protocols); use h2c='off' for this "
                    "server")
            sock, leftover = h1._detach_after_switch()
            request_headers = [(b":method", sent.method.encode("ascii")),
                               (b":path", sent.url.encode()), (b":scheme", b"http"),
                               (b":authority", h2conn.authority.encode())]
            sent.stream_id = h2conn._adopt_upgrade(sock, leftover, request_headers + given,
                                                   config.read)
            sent.conn = self._conn = h2conn
            self.protocol = Protocol.HTTP2
            self._speaks_h2c = True
            return
        h1._hold_response(head)
        sent.conn = h1
        self.protocol = Protocol.HTTP11

    def get_response(self, stream_id: int | None = None) -> HTTP20Response | HTTP11Response:
        """The response to the request ``stream_id`` names (the ID request()
        returned), or to the oldest request not yet answered.

        A request the server did not process is sent again first (see the
        module docstring).
        """
        with self._book_lock:
            key = next(iter(self._sent), None) if stream_id is None else stream_id
            sent = self._sent.pop(key, None) if key is not None else None
        if sent is None:
            if self._conn is None:
                raise LocalProtocolError("No request has been sent on this connection")
            raise LocalProtocolError(f"No response to wait for on stream {stream_id}"
                                     if stream_id is not None else
                                     "No request is waiting for its response")
        resends = 0
        while True:
            conn = sent.conn
            assert conn is not None
            try:
                if isinstance(conn, HTTP20Connection):
                    response: HTTP20Response | HTTP11Response = conn.get_response(sent.stream_id)
                else:
                    response = conn.get_response()
            except HyperError as exc:
                resends += 1
                if not self._resend(exc, sent, resends):
                    raise
                self._send(sent, resends)
                continue
            if isinstance(conn, HTTP20Connection):
                # (It may end before this response is read.)
                response.add_release_callback(self._close_finished)
            return response

    def get_pushes(self, stream_id: int | None = None,
                   capture_all: bool = False) -> Iterator[HTTP20Push]:
        """Server pushes (HTTP/2 only; nothing over HTTP/1.1)."""
        conn: AnyConnection | None = self._conn
        if stream_id is not None:
            with self._book_lock:
                sent = self._sent.get(stream_id)
            if sent is not None:
                conn, stream_id = sent.conn, sent.stream_id
            else:
                stream_id %= _ID_SPAN
        if isinstance(conn, HTTP20Connection):
            yield from conn.get_pushes(stream_id, capture_all)

    # -- state for the pool ------------------------------------------------------------

    def stream_capacity(self) -> int:
        conn = self._conn
        if conn is None:
            return 1
        if self.protocol is Protocol.UPGRADE_PENDING:
            return 1 if conn.is_idle() else 0
        return conn.stream_capacity()

    def is_usable(self) -> bool:
        return self._conn is None or self._conn.is_usable()

    def is_idle(self) -> bool:
        return self._conn is None or self._conn.is_idle()

    def check_alive(self) -> bool:
        return self._conn is None or self._conn.check_alive()

    def close(self) -> None:
        """Close the connection and every ended one still finishing streams.
        A later request connects again."""
        with self._lock:
            conn, self._conn = self._conn, None
            self.protocol = Protocol.NOT_CONNECTED
            self._epoch += 1
        with self._book_lock:
            retired, self._retired = self._retired, []
            self._sent.clear()
        for old in [*retired, *([conn] if conn is not None else [])]:
            old.close()

    def _resend(self, exc: HyperError, sent: _Sent, resends: int) -> bool:
        """Whether to send ``sent`` again after ``exc`` (see the module docstring)."""
        if not self.reconnect or resends > MAX_RESENDS or not sent.replayable \
                or sent.epoch != self._epoch:
            return False
        return exc.retry_safe or _repeatable(sent.method, exc, sent.conn)

    def may_send_again(self, method: str, exc: HyperError) -> bool:
        """Whether a request with ``method`` that failed here with ``exc``
        may be sent again on another connection: the server did not process
        it (``exc.retry_safe``), or its method is idempotent and this
        connection broke after a graceful GOAWAY (RFC 9110 section 9.2.2).
        The one rule, for the pool's retries too."""
        return exc.retry_safe or _repeatable(method, exc, self._conn)

    def _close_finished(self) -> None:
        """Close the ended connections whose streams are all read."""
        if not self._retired:
            return
        with self._book_lock:
            done = [c for c in self._retired if c.is_idle()]
            self._retired = [c for c in self._retired if c not in done]
        for conn in done:
            conn.close()

    def __enter__(self) -> HTTPConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _http2_can_carry(fields: list[tuple[bytes, bytes]]) -> bool:
    """Whether HTTP/2 could carry these fields (their names are tokens); if
    not (``baz[]``, which HTTP/1.1 servers take), no h2c upgrade is tried."""
    try:
        normalize_headers(fields)
    except InvalidHeaderError:
        return False
    return True


def _ended(conn: AnyConnection) -> bool:
    """Whether the server ended ``conn`` (GOAWAY, close, error), so that the
    next request needs a new connection."""
    if isinstance(conn, HTTP20Connection):
        return not conn.is_usable()
    # (An HTTP/1.1 connection handed over to h2c is never kept here.)
    if conn.is_idle():
        # The server may have closed the idle connection; HTTP11Connection
        # drops such a socket (and one after "Connection: close"). Its own
        # reconnect would skip ALPN and h2c, so a new connection is
        # negotiated here instead.
        conn.check_alive()
        return conn._sock is None
    return False




def _repeatable(method: str, exc: HyperError, conn: AnyConnection | None) -> bool:
    """RFC 9110 section 9.2.2: an idempotent request "can be repeated
    automatically if a communication failure occurs before the client is
    able to read the server's response". Applied when the HTTP/2 connection
    failed after a graceful GOAWAY, before the server finished the streams
    it kept (hypercorn answers streams that crossed its GOAWAY with
    PROTOCOL_ERROR, which ends those too)."""
    return method.upper() in _IDEMPOTENT and \
        isinstance(exc, (ConnectionClosed, HTTP2ConnectionError)) and \
        isinstance(conn, HTTP20Connection) and conn.broke_after_goaway()


def _connect_or_close(conn: HTTP20Connection) -> None:
    """Connect; on failure (e.g. no SETTINGS in time) close the socket."""
    try:
        conn.connect()
    except BaseException:
        with contextlib.suppress(HyperError, OSError):
            conn.close()
        raise


__all__ = ["MAX_RESENDS", "HTTPConnection", "Protocol"]
