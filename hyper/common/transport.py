"""Opening a connection: TCP, an optional proxy tunnel, TLS with ALPN.

This is the one place where ``socket`` and ``ssl`` errors raised while
connecting are translated into hyper's exception tree.
"""

from __future__ import annotations

import selectors
import socket
import ssl
from dataclasses import dataclass, field

import h11

from ..exceptions import ConnectError, ConnectTimeout, ProxyError, TLSError
from .timeouts import Deadline
from .util import HeadersArg, normalize_headers, split_host_port

# selectors.PollSelector where the platform has poll(2) (all but Windows).
_Selector: type[selectors.BaseSelector] = getattr(
    selectors, "PollSelector", selectors.SelectSelector)


@dataclass(frozen=True)
class ProxyConfig:
    """An HTTP proxy: ``headers`` go to the proxy only (e.g. Proxy-Authorization)."""

    host: str
    port: int
    headers: tuple[tuple[bytes, bytes], ...] = field(default=())


def proxy_config(
    proxy_host: str | None, proxy_port: int | None, proxy_headers: HeadersArg
) -> ProxyConfig | None:
    """The proxy named by hyper 0.7's constructor arguments (port 8080 by default)."""
    if proxy_host is None:
        return None
    host, port = split_host_port(proxy_host, proxy_port, 8080)
    return ProxyConfig(host, port, tuple(normalize_headers(proxy_headers)))


@dataclass
class Transport:
    """An open, connected socket and what was negotiated on it."""

    sock: socket.socket
    alpn: str | None
    secure: bool


def open_transport(
    host: str,
    port: int,
    *,
    secure: bool,
    ssl_context: ssl.SSLContext | None,
    proxy: ProxyConfig | None,
    connect_timeout: float | None,
) -> Transport:
    """Connect to ``host:port`` (through ``proxy``), TLS-wrapped when ``secure``.

    Plaintext through a proxy returns the socket to the proxy itself: requests
    then go in absolute form (RFC 9112 section 3.2.2). TLS through a proxy
    opens a CONNECT tunnel first (RFC 9110 section 9.3.6).
    """
    deadline = Deadline(connect_timeout)
    target = (proxy.host, proxy.port) if proxy else (host, port)
    sock = _tcp_connect(target, deadline)
    try:
        if not secure:
            return Transport(sock, None, False)
        if proxy is not None:
            _connect_tunnel(sock, host, port, proxy, deadline)
        assert ssl_context is not None
        tls = _tls_wrap(sock, host, ssl_context, deadline)
        return Transport(tls, tls.selected_alpn_protocol(), True)
    except BaseException:
        sock.close()
        raise


def _tcp_connect(target: tuple[str, int], deadline: Deadline) -> socket.socket:
    try:
        sock = socket.create_connection(target, timeout=deadline.remaining())
    except socket.timeout as exc:
        raise ConnectTimeout(f"Timed out connecting to {target[0]}:{target[1]}") from exc
    except OSError as exc:
        raise ConnectError(f"Failed to connect to {target[0]}:{target[1]}: {exc}") from exc
    # Requests and frames are small and latency-sensitive: don't let Nagle
    # hold them back waiting for an ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _tls_wrap(
    sock: socket.socket, host: str, context: ssl.SSLContext, deadline: Deadline
) -> ssl.SSLSocket:
    sock.settimeout(deadline.remaining())
    try:
        return context.wrap_socket(sock, server_hostname=host)
    except socket.timeout as exc:
        raise ConnectTimeout(f"Timed out in the TLS handshake with {host}") from exc
    except ssl.SSLCertVerificationError as exc:
        raise TLSError(f"Certificate verification failed for {host}: {exc.verify_message}") from exc
    except ssl.SSLError as exc:
        raise TLSError(f"TLS handshake with {host} failed: {exc}") from exc
    except OSError as exc:
        raise ConnectError(f"Connection to {host} lost during the TLS handshake: {exc}") from exc


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
            f"Timed out waiting for the proxy's CONNECT answer for {target}"
        ) from exc
    except h11.ProtocolError as exc:
        raise ProxyError(f"The proxy's answer to CONNECT is not valid HTTP/1.1: {exc}") from exc
    except OSError as exc:
        raise ProxyError(f"The proxy closed the connection during CONNECT: {exc}") from exc
    if not 200 <= event.status_code < 300:
        raise ProxyError(
            f"The proxy refused the tunnel to {target}: "
            f"{event.status_code} {event.reason.decode('latin-1')}",
            error_code=event.status_code,
        )
    if conn.trailing_data[0]:
        # A TLS server speaks only after our ClientHello: anything before it
        # came from a broken proxy.
        raise ProxyError("The proxy sent unexpected data after its CONNECT answer")


def wait_readable(sock: socket.socket, timeout: float | None) -> bool:
    """True once ``sock`` has something to read (data, EOF or an error),
    False after ``timeout`` seconds (None: no limit).

    poll(2) rather than select(2), which cannot watch a descriptor numbered
    1024 or above: a process with many files open gets such sockets.
    """
    with _Selector() as selector:
        selector.register(sock, selectors.EVENT_READ)
        return bool(selector.select(timeout))
