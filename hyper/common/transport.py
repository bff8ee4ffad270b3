"""Opening a connection: TCP, an optional proxy hop, TLS with ALPN.

:class:`Opener` is the one backend every connection opens its socket
through: it knows TCP, the proxy hop (an HTTP proxy spoken to in plaintext
or in TLS, with CONNECT for tunnels; SOCKS 4, 4a, 5 and 5h), TLS and ALPN,
and returns a :class:`Transport`. It is also the one place where ``socket``
and ``ssl`` errors raised while connecting are translated into hyper's
exception tree: a failure on the way to the proxy or in its answers is a
:class:`~hyper.exceptions.ProxyError` naming the proxy.
"""

from __future__ import annotations

import selectors
import socket
import ssl
from dataclasses import dataclass
from functools import partial

import h11

from ..exceptions import ConnectError, ConnectTimeout, ProxyError, ProxyUnreachableError, TLSError
from ..tls import H2_PROTOCOL, HTTP11_PROTOCOL, create_context, h2_allowed, http11_twin
from .proxy import ProxyArg, ProxyConfig, proxy_config
from .socks import SocksHandshake, SocksVersion
from .timeouts import Deadline

__all__ = [
    "Opener",
    "ProxyArg",
    "ProxyConfig",
    "Transport",
    "open_transport",
    "proxy_config",
    "wait_readable",
]

# selectors.PollSelector where the platform has poll(2) (all but Windows).
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector)


@dataclass
class Transport:
    """An open, connected socket and what was negotiated on it.

    ``alpn`` is the protocol to speak: the server's ALPN choice, except that
    a server choosing ``h2`` over a TLS 1.2 cipher suite HTTP/2 forbids was
    asked again without offering it (see :meth:`Opener.open`).
    """

    sock: socket.socket
    alpn: str | None
    secure: bool


@dataclass(frozen=True)
class Opener:
    """How to open connections: TLS context, proxy, connect timeout.

    ``connect_timeout`` bounds the whole opening (TCP, proxy, TLS), None
    waits as long as the operating system does.
    """

    ssl_context: ssl.SSLContext | None = None
    proxy: ProxyConfig | None = None
    connect_timeout: float | None = None

    def open(self, host: str, port: int, *, secure: bool) -> Transport:
        """Connect to ``host:port``, TLS-wrapped when ``secure``.

        Plaintext through an HTTP proxy returns the socket to the proxy
        itself: requests then go in absolute form (RFC 9112 section 3.2.2).
        Anything else through a proxy goes through a tunnel: CONNECT for an
        HTTP proxy (RFC 9110 section 9.3.6), the SOCKS handshake for SOCKS.
        """
        deadline = Deadline(self.connect_timeout)
        if not secure:
            return Transport(self._reach(host, port, deadline, tunnel=False), None, False)
        context = self.ssl_context
        assert context is not None, "TLS needs an ssl_context"
        tls = self._tls(host, port, context, deadline)
        if tls.selected_alpn_protocol() == H2_PROTOCOL and not _h2_usable(tls):
            # RFC 9113 section 9.2.2: "A deployment of HTTP/2 over TLS 1.2
            # SHOULD NOT use any of the prohibited cipher suites". The server
            # agreed to h2 anyway (nginx does): ask again offering http/1.1
            # only, the way a client without HTTP/2 would reach it.
            try:
                twin = _http11_context(context, host, tls)
            finally:
                tls.close()
            tls = self._tls(host, port, twin, deadline)
        return Transport(tls, tls.selected_alpn_protocol(), True)

    def _tls(
        self, host: str, port: int, context: ssl.SSLContext, deadline: Deadline
    ) -> ssl.SSLSocket:
        sock = self._reach(host, port, deadline, tunnel=True)
        try:
            return _tls_wrap(sock, host, context, deadline, TLSError, host)
        except BaseException:
            sock.close()
            raise

    def _reach(self, host: str, port: int, deadline: Deadline, *, tunnel: bool) -> socket.socket:
        """A socket to ``host:port``: direct, or through the proxy's tunnel, or
        (``tunnel`` False, HTTP proxy) to the proxy itself."""
        proxy = self.proxy
        if proxy is None:
            return _tcp_connect(host, port, deadline, ConnectError, f"{host}:{port}")
        sock = _proxy_connect(proxy, deadline)
        try:
            if proxy.is_socks:
                _socks_tunnel(sock, host, port, proxy, deadline)
            elif tunnel:
                if isinstance(sock, ssl.SSLSocket):
                    raise ProxyError(
                        f"TLS to {host}:{port} through the https:// proxy {proxy.name} would be"
                        " TLS inside TLS, which hyper does not do: use the proxy's http://"
                        " address or a SOCKS proxy")
                _connect_tunnel(sock, host, port, proxy, deadline)
            return sock
        except BaseException:
            sock.close()
            raise


def open_transport(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: ssl.SSLContext | None,
    proxy: ProxyConfig | None,
    connect_timeout: float | None,
) -> Transport:
    """``Opener(ssl_context, proxy, connect_timeout).open(host, port, secure=secure)``."""
    return Opener(ssl_context, proxy, connect_timeout).open(host, port, secure=secure)


# -- the pieces ------------------------------------------------------------------------


def _tcp_connect(
    host: str,
    port: int,
    deadline: Deadline,
    error: type[ConnectError | ProxyUnreachableError],
    what: str,
) -> socket.socket:
    try:
        sock = socket.create_connection((host, port), timeout=deadline.remaining())
    except socket.timeout as exc:
        raise ConnectTimeout(f"Timed out connecting to {what}") from exc
    except OSError as exc:
        raise error(f"Failed to connect to {what}: {exc}") from exc
    # Requests and frames are small and latency-sensitive: don't let Nagle
    # hold them back waiting for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _tls_wrap(
    sock: socket.socket,
    host: str,
    context: ssl.SSLContext,
    deadline: Deadline,
    error: type[TLSError | ProxyError],
    what: str,
) -> ssl.SSLSocket:
    sock.settimeout(deadline.remaining())
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except socket.timeout as exc:
        raise ConnectTimeout(f"Timed out in the TLS handshake with {what}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise error(f"Certificate verification failed for {what}: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise error(f"TLS handshake with {what} failed: {exc}") from exc
    except OSError as exc:
        lost = ProxyError if error is ProxyError else ConnectError
        raise lost(f"Connection to {what} lost during the TLS handshake: {exc}") from exc


def _h2_usable(tls: ssl.SSLSocket) -> bool:
    return h2_allowed(tls.version(), _suite(tls))


def _suite(tls: ssl.SSLSocket) -> str:
    # cipher() is None only before the handshake.
    return (tls.cipher() or ("(none)",))[0]


def _http11_context(context: ssl.SSLContext, host: str, tls: ssl.SSLSocket) -> ssl.SSLContext:
    twin = http11_twin(context)
    if twin is None:
        raise TLSError(
            f"{host} chose HTTP/2 over {tls.version()} with the cipher suite"
            f" {_suite(tls)}, which RFC 9113 section 9.2.2 forbids for"
            " HTTP/2, and this ssl_context cannot be made to offer HTTP/1.1 alone: make"
            " it with hyper.tls.init_context(), or offer only 'http/1.1' by ALPN")
    return twin


def _proxy_connect(proxy: ProxyConfig, deadline: Deadline) -> socket.socket:
    """A socket to the proxy itself: TCP, then TLS for an https:// proxy."""
    sock = _tcp_connect(proxy.host, proxy.port, deadline, ProxyUnreachableError,
                        f"the proxy {proxy.name}")
    if proxy.scheme != "https":
        return sock
    # hyper speaks HTTP/1.1 to proxies: offer nothing else by ALPN.
    context = proxy.ssl_context or create_context(alpn=(HTTP11_PROTOCOL,))
    try:
        return _tls_wrap(sock, proxy.host, context, deadline, ProxyError,
                         f"the proxy {proxy.name}")
    except BaseException:
        sock.close()
        raise


def _connect_tunnel(
    sock: socket.socket, host: str, port: int, proxy: ProxyConfig, deadline: Deadline
) -> None:
    """Ask the proxy for a tunnel to ``host:port`` (then spoken to in TLS)."""
    # RFC 9110 section 9.3.6: the target of CONNECT is always host:port.
    target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    conn = h11.Connection(our_role=h11.CLIENT)
    headers = [(b"host", target.encode("ascii")), *proxy.headers]
    request = h11.Request(method=b"CONNECT", target=target.encode("ascii"), headers=headers)
    try:
        sock.settimeout(deadline.remaining())
        sock.sendall(conn.send(request) or b"")
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(sock.recv(65536))
            elif isinstance(event, h11.Response):
                break
            else:
                # h11 turns anything but interim (1xx) and final responses
                # into a RemoteProtocolError while a response is awaited.
                assert isinstance(event, h11.InformationalResponse)
    except socket.timeout as exc:
        raise ConnectTimeout(
            f"Timed out waiting for the CONNECT answer of the proxy {proxy.name} ({target})"
        ) from exc
    except h11.ProtocolError as exc:
        raise ProxyError(
            f"The CONNECT answer of the proxy {proxy.name} is not valid HTTP/1.1: {exc}"
        ) from exc
    except OSError as exc:
        raise ProxyError(
            f"The proxy {proxy.name} closed the connection during CONNECT: {exc}") from exc
    if not 200 <= event.status_code < 300:
        raise ProxyError(
            f"The proxy {proxy.name} refused the tunnel to {target}: "
            f"{event.status_code} {event.reason.decode('latin-1')}",
            error_code=event.status_code,
        )
    if conn.trailing_data[0]:
        # A TLS server speaks only after our ClientHello: anything before it
        # came from a broken proxy.
        raise ProxyError(f"The proxy {proxy.name} sent unexpected data after its CONNECT answer")


def _socks_tunnel(
    sock: socket.socket, host: str, port: int, proxy: ProxyConfig, deadline: Deadline
) -> None:
    """Open a SOCKS tunnel to ``host:port`` on ``sock``."""
    version = SocksVersion.SOCKS4 if proxy.scheme.startswith("socks4") else SocksVersion.SOCKS5
    resolve = None if proxy.remote_dns else partial(_resolve, version=version)
    handshake = SocksHandshake(
        version, proxy.name, host, port, proxy.username, proxy.password, resolve)
    try:
        sock.settimeout(deadline.remaining())
        sock.sendall(handshake.start())
        while not handshake.done:
            data = sock.recv(512)
            if not data:
                raise ProxyError(
                    f"The SOCKS proxy {proxy.name} closed the connection while hyper awaited"
                    f" {handshake.awaiting}")
            sock.sendall(handshake.receive(data))
    except socket.timeout as exc:
        raise ConnectTimeout(
            f"Timed out waiting for the SOCKS proxy {proxy.name} ({handshake.awaiting})"
        ) from exc
    except OSError as exc:
        raise ProxyError(
            f"The connection to the SOCKS proxy {proxy.name} failed during its handshake: {exc}"
        ) from exc
    if handshake.trailing:
        # Neither a TLS server nor an HTTP/1.1 one speaks first.
        raise ProxyError(f"The SOCKS proxy {proxy.name} sent unexpected data after its reply")


def _resolve(host: str, port: int, version: SocksVersion) -> str:
    """``host``'s address, for SOCKS without remote name resolution (SOCKS4:
    IPv4 only)."""
    family = socket.AF_INET if version is SocksVersion.SOCKS4 else socket.AF_UNSPEC
    try:
        infos = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM)
    except OSError as exc:
        raise ConnectError(f"Failed to resolve {host} (for the SOCKS proxy): {exc}") from exc
    return str(infos[0][4][0])


def wait_readable(sock: socket.socket, timeout: float | None) -> bool:
    """True once ``sock`` has something to read (data, EOF or an error),
    False after ``timeout`` seconds (None: no limit).

    poll(2) rather than select(2), which cannot watch a descriptor numbered
    1024 or above: a process with many files open gets such sockets.
    """
    with _Selector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout))
