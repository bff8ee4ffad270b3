"""What a proxy is: its scheme, address, credentials and headers.

Six schemes, as requests and curl name them:

* ``http://``: plaintext requests go to the proxy in absolute form (RFC 9112
  section 3.2.2); TLS goes through a CONNECT tunnel (RFC 9110 section 9.3.6);
* ``https://``: the same, spoken to the proxy inside TLS;
* ``socks4://``, ``socks4a://``, ``socks5://``, ``socks5h://``: a SOCKS
  tunnel for everything; the ``a`` and ``h`` variants let the proxy resolve
  the host name, the others resolve it here.

Credentials in the URL become a ``Proxy-Authorization: Basic`` header for
HTTP proxies (RFC 9110 section 11.7.2) unless the caller gives one, and the
SOCKS5 username and password (RFC 1929; SOCKS4 sends the username as its
user id).
"""

from __future__ import annotations

import base64
import ssl
from dataclasses import dataclass, field
from typing import Union
from urllib.parse import SplitResult, unquote, urlsplit

from ..exceptions import InvalidURLError
from .util import HeadersArg, normalize_headers, split_host_port

__all__ = ["PROXY_SCHEMES", "ProxyArg", "ProxyConfig", "parse_proxy_url", "proxy_config"]

#: Each scheme and the port a URL without one means (80 for http://, as in
#: requests; hyper 0.7's ``proxy_host="host"`` means port 8080).
PROXY_SCHEMES = {
    "http": 80,
    "https": 443,
    "socks4": 1080,
    "socks4a": 1080,
    "socks5": 1080,
    "socks5h": 1080,
}
_REMOTE_DNS = ("socks4a", "socks5h")


@dataclass(frozen=True)
class ProxyConfig:
    """A proxy. ``headers`` go to an HTTP proxy only (e.g. Proxy-Authorization);
    ``ssl_context`` verifies an ``https://`` proxy (None: certifi's CAs)."""

    host: str
    port: int
    # May hold Proxy-Authorization: keep it out of reprs and logs.
    headers: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)
    scheme: str = "http"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.scheme not in PROXY_SCHEMES:
            raise InvalidURLError(
                f"Unsupported proxy scheme {self.scheme!r}: use one of {', '.join(PROXY_SCHEMES)}")

    @property
    def name(self) -> str:
        """The proxy's URL without credentials, for messages."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def is_socks(self) -> bool:
        return self.scheme.startswith("socks")

    @property
    def forwards(self) -> bool:
        """True for HTTP proxies: a plaintext request goes to the proxy in
        absolute form, with ``headers``; SOCKS proxies only tunnel."""
        return not self.is_socks

    @property
    def remote_dns(self) -> bool:
        """True when the proxy resolves the host name (socks4a, socks5h)."""
        return self.scheme in _REMOTE_DNS


#: What the connections take as ``proxy_host``: hyper 0.7's ``host[:port]``,
#: a proxy URL, or a ready :class:`ProxyConfig`.
ProxyArg = Union[str, ProxyConfig, None]


def proxy_config(
    proxy_host: str | ProxyConfig | None, proxy_port: int | None, proxy_headers: HeadersArg
) -> ProxyConfig | None:
    """The proxy named by the connections' constructor arguments.

    ``proxy_host`` is hyper 0.7's ``host`` or ``host:port`` (an HTTP proxy,
    port ``proxy_port`` or 8080), a proxy URL such as
    ``socks5h://user:pass@host:1080``, or a :class:`ProxyConfig`.
    """
    if proxy_host is None or isinstance(proxy_host, ProxyConfig):
        return proxy_host
    if "://" in proxy_host:
        return parse_proxy_url(proxy_host, proxy_headers, proxy_port)
    host, port = split_host_port(proxy_host, proxy_port, 8080)
    return ProxyConfig(host, port, tuple(normalize_headers(proxy_headers)))


def parse_proxy_url(
    url: str, headers: HeadersArg = None, default_port: int | None = None
) -> ProxyConfig:
    """The proxy ``url`` names (``scheme://[user:password@]host[:port]``)."""
    parts = _split(url)
    scheme = parts.scheme
    if scheme not in PROXY_SCHEMES:
        raise InvalidURLError(
            f"Unsupported proxy scheme in {_redacted(parts)!r}:"
            f" use one of {', '.join(PROXY_SCHEMES)}")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise InvalidURLError(f"Invalid port in the proxy URL {_redacted(parts)!r}") from exc
    if not host:
        raise InvalidURLError(f"No host in the proxy URL {_redacted(parts)!r}")
    if port is None:
        port = default_port or PROXY_SCHEMES[scheme]
    given = tuple(normalize_headers(headers))
    username = None if parts.username is None else unquote(parts.username)
    password = None if parts.password is None else unquote(parts.password)
    if scheme.startswith("socks"):
        return ProxyConfig(host, port, given, scheme, username, password)
    has_auth = any(name.lower() == b"proxy-authorization" for name, _ in given)
    if username is not None and not has_auth:
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode("ascii")
        given += ((b"Proxy-Authorization", f"Basic {token}".encode("ascii")),)
    return ProxyConfig(host, port, given, scheme)


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURLError(f"Invalid proxy URL: {exc}") from exc
    return parts._replace(scheme=parts.scheme.lower())


def _redacted(parts: SplitResult) -> str:
    # Never echo a password into an error message.
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}"
