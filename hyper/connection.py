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
"""

from __future__ import annotations

import enum
import ssl
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Union

import h11

from .common.body import BodyArg, known_length
from .common.settings import H2CMode
from .common.timeouts import TimeoutArg, TimeoutConfig
from .common.transport import ProxyArg, open_transport, proxy_config
from .common.util import HeadersArg, normalize_headers, split_host_port
from .exceptions import InvalidHeaderError, InvalidURLError, LocalProtocolError
from .http11.connection import HTTP11Connection
from .http20.connection import HTTP20Connection
from .http20.window import BaseFlowControlManager

if TYPE_CHECKING:
    from .http11.response import HTTP11Response
    from .http20.response import HTTP20Push, HTTP20Response

AnyConnection = Union[HTTP20Connection, HTTP11Connection]


class Protocol(enum.Enum):
    """What the connection speaks: known after connecting, except while an
    h2c upgrade is pending."""

    NOT_CONNECTED = "not connected"
    UPGRADE_PENDING = "upgrade pending"
    HTTP2 = "h2"
    HTTP11 = "http/1.1"


class HTTPConnection:
    """A connection that uses HTTP/2 where the server supports it.

    ``request()`` returns the HTTP/2 stream ID, or None on HTTP/1.1.
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
        self._common: dict[str, Any] = dict(
            window_manager=window_manager, enable_push=enable_push, timeout=self.timeout,
            **kwargs)
        self._proxy_args: dict[str, Any] = {
            "proxy_host": proxy_host, "proxy_port": proxy_port, "proxy_headers": proxy_headers}
        self._proxy = proxy_config(proxy_host, proxy_port, proxy_headers)
        self._lock = threading.Lock()
        self._conn: AnyConnection | None = None
        self.protocol = Protocol.NOT_CONNECTED

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
                self._conn = self._open()

    def _open(self) -> AnyConnection:
        if self.secure:
            return self._open_tls()
        if self._proxy is not None or self.h2c is H2CMode.OFF:
            self.protocol = Protocol.HTTP11
            return self._http11()
        if self.h2c is H2CMode.PRIOR_KNOWLEDGE:
            conn = self._http2(secure=False)
            conn.connect()
            self.protocol = Protocol.HTTP2
            return conn
        self.protocol = Protocol.UPGRADE_PENDING
        h1 = self._http11()
        h1.connect()
        return h1

    def _open_tls(self) -> AnyConnection:
        if self.ssl_context is None:
            from .tls import init_context

            self.ssl_context = init_context()
        transport = open_transport(
            self.host, self.port, secure=True, ssl_context=self.ssl_context,
            proxy=self._proxy, connect_timeout=self.timeout.connect)
        if transport.alpn == "h2":
            conn: AnyConnection = self._http2(secure=True, sock=transport.sock)
            conn.connect()
            self.protocol = Protocol.HTTP2
            return conn
        self.protocol = Protocol.HTTP11
        return self._http11(sock=transport.sock)

    def _http2(self, secure: bool, **extra: Any) -> HTTP20Connection:
        return HTTP20Connection(self.host, self.port, secure=secure,
                                ssl_context=self.ssl_context, **self._common, **extra)

    def _http11(self, **extra: Any) -> HTTP11Connection:
        common = {k: v for k, v in self._common.items()
                  if k not in ("window_manager", "enable_push")}
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
        """Send a request: the HTTP/2 stream ID, or None over HTTP/1.1."""
        fields = normalize_headers(headers, http11=True)  # (once: it may be an iterator)
        self.connect()
        with self._lock:
            conn = self._conn
            assert conn is not None
            if self.protocol is Protocol.UPGRADE_PENDING:
                assert isinstance(conn, HTTP11Connection)
                if known_length(body) == 0 and _http2_can_carry(fields):
                    return self._request_with_upgrade(conn, method, url, fields, timeout)
                self.protocol = Protocol.HTTP11
        return conn.request(method, url, body, fields, timeout=timeout)

    def _request_with_upgrade(
        self,
        h1: HTTP11Connection,
        method: str,
        url: str,
        headers: HeadersArg,
        timeout: TimeoutArg,
    ) -> int | None:
        """Send the first request with ``Upgrade: h2c`` and learn the protocol
        from its answer (the one case where request() waits for a response)."""
        config = TimeoutConfig.from_arg(timeout) if timeout is not None else self.timeout
        h2conn = self._http2(secure=False)
        settings = h2conn._begin_upgrade()
        given = [(n, v) for n, v in normalize_headers(headers)
                 if n.lower() not in (b"connection", b"upgrade", b"http2-settings")]
        upgrade = [(b"Connection", b"Upgrade, HTTP2-Settings"), (b"Upgrade", b"h2c"),
                   (b"HTTP2-Settings", settings)]
        h1._send_request(method, url, None, given + upgrade, config)
        head = h1._next_response_head()
        if isinstance(head, h11.InformationalResponse):
            sock, leftover = h1._detach_after_switch()
            request_headers = [(b":method", method.encode("ascii")), (b":path", url.encode()),
                               (b":scheme", b"http"), (b":authority", h2conn.authority.encode())]
            stream_id = h2conn._adopt_upgrade(sock, leftover, request_headers + given,
                                              config.read)
            self._conn = h2conn
            self.protocol = Protocol.HTTP2
            return stream_id
        h1._hold_response(head)
        self.protocol = Protocol.HTTP11
        return None

    def get_response(self, stream_id: int | None = None) -> HTTP20Response | HTTP11Response:
        """The response to ``stream_id`` (HTTP/2) or to the last request (HTTP/1.1)."""
        conn = self._conn
        if conn is None:
            raise LocalProtocolError("No request has been sent on this connection")
        if isinstance(conn, HTTP20Connection):
            return conn.get_response(stream_id)
        return conn.get_response()

    def get_pushes(self, stream_id: int | None = None,
                   capture_all: bool = False) -> Iterator[HTTP20Push]:
        """Server pushes (HTTP/2 only; nothing over HTTP/1.1)."""
        if isinstance(self._conn, HTTP20Connection):
            yield from self._conn.get_pushes(stream_id, capture_all)

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
        with self._lock:
            conn, self._conn = self._conn, None
            self.protocol = Protocol.NOT_CONNECTED
        if conn is not None:
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
