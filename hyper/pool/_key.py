"""What makes two requests eligible for the same connection: the pool key.

A connection may only carry a request whose origin (scheme, host, port),
TLS settings and proxy are exactly those it was opened with: a connection
verified against one CA must not serve a request that asked for another,
and a tunnel through one proxy must not carry traffic meant for another.
The key is a frozen (hashable) dataclass, so the pool can map keys to
connections.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Union
from urllib.parse import SplitResult, urlsplit

from ..common.proxy import PROXY_SCHEMES, ProxyConfig, parse_proxy_url
from ..common.settings import H2CMode
from ..common.util import HeadersArg
from ..exceptions import InvalidURLError

#: A client certificate as requests and HTTPie give it: one PEM file with
#: certificate and key, a ``(cert, key)`` pair, or ``(cert, key, password)``.
ClientCert = Union[str, tuple[str, str], tuple[str, str, Union[str, bytes, None]]]

_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class TLSSettings:
    """How to set up TLS: what to trust, what to present, what to allow.

    ``verify`` is True (certifi's CAs), False (verify nothing) or a path to
    a CA file or directory. ``ciphers`` is an OpenSSL cipher string (TLS 1.2
    and below); ``ssl_version`` pins both the minimum and maximum version.
    """

    verify: bool | str = True
    # The key password may be in here: keep it out of reprs and logs.
    cert: ClientCert | None = field(default=None, repr=False)
    ciphers: str | None = None
    ssl_version: ssl.TLSVersion | None = None


@dataclass(frozen=True)
class ProxySettings:
    """A proxy: ``http``, ``https`` (TLS to the proxy), ``socks4``,
    ``socks4a``, ``socks5`` or ``socks5h`` (see :mod:`hyper.common.proxy`).

    ``headers`` go to an HTTP proxy only. ``username`` and ``password`` are
    the SOCKS credentials. ``tls`` verifies an ``https://`` proxy; None
    verifies it as the origin of an https:// key (as requests does), with
    the default settings for an http:// key.
    """

    host: str
    port: int
    # May hold Proxy-Authorization: keep it out of reprs and logs.
    headers: tuple[tuple[bytes, bytes], ...] = field(default=(), repr=False)
    scheme: str = "http"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    tls: TLSSettings | None = None

    def __post_init__(self) -> None:
        if self.scheme not in PROXY_SCHEMES:
            raise InvalidURLError(
                f"Unsupported proxy scheme {self.scheme!r}: use one of {', '.join(PROXY_SCHEMES)}")

    @classmethod
    def from_url(cls, url: str, headers: HeadersArg = None) -> ProxySettings:
        """``scheme://[user:password@]host[:port]``: credentials become
        Proxy-Authorization for an HTTP proxy (unless ``headers`` has one),
        the username and password for SOCKS."""
        parsed = parse_proxy_url(url, headers)
        return cls(parsed.host, parsed.port, parsed.headers, parsed.scheme,
                   parsed.username, parsed.password)

    def config(self, context: ssl.SSLContext | None) -> ProxyConfig:
        """What the opener takes; ``context`` verifies an ``https://`` proxy."""
        return ProxyConfig(self.host, self.port, self.headers, self.scheme, self.username,
                           self.password, context if self.scheme == "https" else None)


@dataclass(frozen=True)
class PoolKey:
    """Everything a connection is bound to. Requests with equal keys may share."""

    scheme: str
    host: str
    port: int
    tls: TLSSettings | None = None
    proxy: ProxySettings | None = None
    h2c: H2CMode = H2CMode.UPGRADE

    def __post_init__(self) -> None:
        if self.scheme not in _DEFAULT_PORTS:
            raise InvalidURLError(f"Unsupported scheme {self.scheme!r}: use http or https")
        if (self.scheme == "https") != (self.tls is not None):
            raise InvalidURLError("TLS settings belong to https keys, and https keys need them")

    @property
    def secure(self) -> bool:
        return self.scheme == "https"

    @property
    def proxy_tls(self) -> TLSSettings:
        """How to verify an https:// proxy: its own settings, else the
        origin's (https:// keys), else the defaults."""
        assert self.proxy is not None
        return self.proxy.tls or self.tls or TLSSettings()

    @property
    def h2_on_connect(self) -> bool:
        """Whether a new connection may speak HTTP/2 as soon as it is open,
        so that other requests can wait for it instead of opening their own.

        Over TLS ALPN decides during the handshake; over plaintext only prior
        knowledge does (an h2c upgrade is known only from the first response,
        and a plaintext proxy always gets HTTP/1.1).
        """
        if self.secure:
            assert self.tls is not None
            version = self.tls.ssl_version
            # RFC 9113 section 9.2: HTTP/2 needs TLS 1.2 or later.
            return version is None or version >= ssl.TLSVersion.TLSv1_2
        return self.proxy is None and self.h2c is H2CMode.PRIOR_KNOWLEDGE

    @classmethod
    def for_url(
        cls,
        url: str,
        *,
        tls: TLSSettings | None = None,
        proxy: ProxySettings | None = None,
        h2c: str | H2CMode = H2CMode.UPGRADE,
    ) -> PoolKey:
        """The key for ``url``; https:// URLs get ``tls`` or the default
        (verified against certifi's CAs), http:// URLs ignore ``tls``."""
        parts = _split(url)
        if parts.scheme not in _DEFAULT_PORTS:
            raise InvalidURLError(f"Unsupported scheme in {url!r}: use http or https")
        host, port = _host_port(parts, url)
        secure = parts.scheme == "https"
        return cls(
            parts.scheme,
            host,
            port,
            (tls or TLSSettings()) if secure else None,
            proxy,
            H2CMode(h2c),
        )


def request_target(url: str) -> str:
    """The origin-form target of ``url``: path and query, never the fragment
    (RFC 9110 section 4.2.4: a fragment is not sent)."""
    parts = _split(url)
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURLError(f"Invalid URL {url!r}: {exc}") from exc
    return parts._replace(scheme=parts.scheme.lower())


def _host_port(parts: SplitResult, url: str) -> tuple[str, int]:
    try:
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise InvalidURLError(f"Invalid port in {url!r}") from exc
    if not host:
        raise InvalidURLError(f"No host in {url!r}")
    return host, port if port is not None else _DEFAULT_PORTS.get(parts.scheme, 80)
