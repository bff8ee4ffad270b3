"""OriginPool: one origin's face of hyper's pool, shaped like urllib3's
``HTTPConnectionPool``.

requests' ``HTTPAdapter.send`` gets one of these from the pool manager
(``connection_from_host``), lets ``cert_verify`` set its TLS attributes
(``cert_reqs``, ``ca_certs``, ``ca_cert_dir``, ``cert_file``,
``key_file``) and calls :meth:`OriginPool.urlopen` with urllib3's
arguments. ``urlopen`` sends through the shared :class:`hyper.pool.ConnectionPool`
(which picks or opens the HTTP/2 or HTTP/1.1 connection) and applies
urllib3's ``Retry`` exactly as urllib3's pool does: every failure and
every retryable status goes through ``Retry.increment`` (which raises
``MaxRetryError`` with the failure as ``reason`` when the retries are
used up), ``Retry.is_retry`` decides status retries and ``Retry.sleep``
waits (backoff, Retry-After). Failures are raised as the urllib3
exceptions urllib3 raises (:mod:`hyper.contrib._errors`); the response is
a genuine urllib3 ``HTTPResponse`` (:mod:`hyper.contrib._raw`).
"""

from __future__ import annotations

import http.client
import ssl
import threading
import warnings
from collections.abc import Mapping
from typing import Any, Union

from urllib3 import HTTPResponse
from urllib3.exceptions import (
    ConnectTimeoutError,
    HostChangedError,
    InsecureRequestWarning,
    MaxRetryError,
    ProtocolError,
    ProxyError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as TimeoutError_
from urllib3.util import SKIP_HEADER, Timeout
from urllib3.util.retry import Retry

from ..common.response import BaseResponse
from ..common.settings import H2CMode
from ..common.timeouts import TimeoutConfig
from ..exceptions import HyperError, RemoteProtocolError
from ..pool import ConnectionPool, PoolKey, ProxySettings, Replay, TLSSettings, request_target
from ._errors import request_error
from ._raw import make_raw

_TimeoutArg = Union[None, float, int, Timeout]

#: The TLS attributes ``cert_verify`` sets, in this order, plus the key
#: password HTTPie's certificate carries.
_TLS_ATTRIBUTES = ("cert_reqs", "ca_certs", "ca_cert_dir", "cert_file", "key_file",
                   "key_password")


#: The failures urllib3's pool hands to ``Retry.increment`` (the others,
#: such as InvalidHeader and EmptyPoolError, it raises as they are).
_RETRIED = (TimeoutError_, ProtocolError, SSLError, ProxyError)


class ConnectionOptions:
    """The adapter's settings that urllib3's pool key does not carry but
    hyper's does: ``ciphers``, ``ssl_version`` and the h2c mode."""

    __slots__ = ("ciphers", "h2c", "ssl_version")

    def __init__(self, ciphers: str | None, ssl_version: ssl.TLSVersion | None,
                 h2c: H2CMode) -> None:
        self.ciphers = ciphers
        self.ssl_version = ssl_version
        self.h2c = h2c


class OriginPool:
    """Requests to one origin (scheme, host, port), through a proxy or not.

    The TLS attributes start from the pool key requests computed and may be
    changed by ``cert_verify`` before each request, as on urllib3's pool;
    each request uses their values at the time it is sent.
    """

    def __init__(
        self,
        pool: ConnectionPool,
        scheme: str,
        host: str,
        port: int,
        options: ConnectionOptions,
        proxy: ProxySettings | None = None,
        *,
        cert_reqs: str | None = None,
        ca_certs: str | None = None,
        ca_cert_dir: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        key_password: str | bytes | None = None,
    ) -> None:
        self._pool = pool
        self.scheme = scheme
        self.host = host
        self.port = port
        self.proxy = proxy
        self._options = options
        self.cert_reqs = cert_reqs
        self.ca_certs = ca_certs
        self.ca_cert_dir = ca_cert_dir
        self.cert_file = cert_file
        self.key_file = key_file
        self.key_password = key_password
        self._key_lock = threading.Lock()
        self._key_for: tuple[Any, ...] | None = None
        self._key: PoolKey | None = None

    def __str__(self) -> str:
        # urllib3's text, which starts its error messages.
        kind = "HTTPSConnectionPool" if self.scheme == "https" else "HTTPConnectionPool"
        return f"{kind}(host={self.host!r}, port={self.port!r})"

    __repr__ = __str__

    def close(self) -> None:
        """Nothing to do: the connections belong to the adapter's pool,
        which ``HTTP20Adapter.close()`` closes."""

    def pool_key(self) -> PoolKey:
        """hyper's pool key for the current TLS attributes (made once per
        distinct value of them)."""
        current = tuple(getattr(self, name) for name in _TLS_ATTRIBUTES)
        with self._key_lock:
            if self._key is None or current != self._key_for:
                self._key = self._make_key(*current)
                self._key_for = current
            return self._key

    def _make_key(
        self, cert_reqs: str | None, ca_certs: str | None, ca_cert_dir: str | None,
        cert_file: str | None, key_file: str | None, key_password: str | bytes | None,
    ) -> PoolKey:
        tls = None
        if self.scheme == "https":
            verify: bool | str = (False if cert_reqs == "CERT_NONE"
                                  else ca_certs or ca_cert_dir or True)
            cert: Any = None
            if cert_file and key_password is not None:
                cert = (cert_file, key_file or cert_file, key_password)
            elif cert_file and key_file:
                cert = (cert_file, key_file)
            elif cert_file:
                cert = cert_file
            tls = TLSSettings(verify, cert, self._options.ciphers, self._options.ssl_version)
        return PoolKey(self.scheme, self.host, self.port, tls, self.proxy, self._options.h2c)

    def is_same_host(self, url: str) -> bool:
        """Whether ``url`` (absolute or a path) is this pool's origin."""
        if url.startswith("/"):
            return True
        try:
            other = PoolKey.for_url(url)
        except HyperError:
            return False
        return (other.scheme, other.host, other.port) == (self.scheme, self.host, self.port)

    def urlopen(
        self,
        method: str,
        url: str,
        body: Any = None,
        headers: Mapping[str, Any] | None = None,
        retries: Retry | bool | int | None = None,
        redirect: bool = True,
        assert_same_host: bool = True,
        timeout: _TimeoutArg = None,
        pool_timeout: float | None = None,
        release_conn: bool | None = None,
        chunked: bool = False,
        body_pos: Any = None,
        preload_content: bool = True,
        decode_content: bool = True,
    ) -> HTTPResponse:
        """Send a request, with urllib3's arguments and urllib3's retries.

        Differences from urllib3's pool: redirects are not followed
        (requests follows them itself and passes ``redirect=False``); the
        connection is chosen by hyper's pool, so ``pool_timeout``,
        ``release_conn`` and ``body_pos`` are not used (the connection is
        released when the body is read or the response closed; a body is
        rewound for a retry where it can be); HTTP/1.1 framing is chosen
        from the body and headers, as ``chunked`` is by requests.
        """
        if not isinstance(retries, Retry):
            retries = Retry.from_int(retries, redirect=redirect)
        if assert_same_host and not self.is_same_host(url):
            raise HostChangedError(self, url, retries)  # type: ignore[arg-type]
        key = self.pool_key()
        if key.tls is not None and key.tls.verify is False:
            # urllib3 warns on every unverified request; code silencing the
            # warning (or relying on it) behaves the same.
            warnings.warn(
                f"Unverified HTTPS request is being made to host '{self.host}'. "
                "Adding certificate verification is strongly advised.",
                InsecureRequestWarning, stacklevel=2)
        config = timeout_config(timeout)
        target = url if url.startswith("/") else request_target(url)
        wire = wire_headers(headers)
        replay = Replay(body)
        while True:
            try:
                response = self._pool.request(key, method, target, body, wire, timeout=config)
                _check_header_count(response)
            except HyperError as exc:
                error = request_error(exc, self, url, config, proxied=self.proxy is not None)
                if not isinstance(error, _RETRIED):
                    raise error from exc
                retries = retries.increment(method, url, error=error, _pool=self,  # type: ignore[arg-type]
                                            _stacktrace=exc.__traceback__)
                if not replay.rewind() and not never_sent(error):
                    raise error from exc
                retries.sleep()
                continue
            raw = make_raw(response, method, url, preload_content=preload_content,
                           decode_content=decode_content, retries=retries, pool=self)
            if replay.replayable and retries.is_retry(
                    method, raw.status, bool(raw.headers.get("Retry-After"))):
                try:
                    retries = retries.increment(method, url, response=raw, _pool=self)  # type: ignore[arg-type]
                except MaxRetryError:
                    if retries.raise_on_status:
                        raw.drain_conn()
                        raise
                    return raw
                raw.drain_conn()
                replay.rewind()
                retries.sleep(raw)
                continue
            return raw


def never_sent(error: Exception) -> bool:
    """Whether the request failed before it was sent: no connection was made
    (directly or to the proxy), so even a body that cannot be rewound, such
    as a generator, is still whole."""
    if isinstance(error, ProxyError):
        error = error.original_error
    return isinstance(error, ConnectTimeoutError)


def timeout_config(timeout: _TimeoutArg) -> TimeoutConfig:
    """hyper's timeouts from urllib3's ``Timeout`` (or a number, or None)."""
    if not isinstance(timeout, Timeout):
        return TimeoutConfig.from_arg(timeout)
    if timeout.total is not None:
        # The read part of a Timeout with ``total`` is computed from a
        # started clock: start a copy's now.
        timeout = timeout.clone()
        timeout.start_connect()
    return TimeoutConfig(_seconds(timeout.connect_timeout), _seconds(timeout.read_timeout))


def _seconds(value: object) -> float | None:
    # Timeout's "use the default" sentinel means no timeout, as in urllib3.
    return float(value) if isinstance(value, (int, float)) else None


def wire_headers(headers: Mapping[str, Any] | None) -> list[tuple[str, bytes]]:
    """The headers to send. urllib3's SKIP_HEADER means "send none" (for
    Host, the connection still sends the origin's, which HTTP/1.1 and
    HTTP/2 require). str values are encoded as latin-1, as http.client
    does; one latin-1 cannot encode goes as UTF-8."""
    out = []
    for name, value in (headers or {}).items():
        if isinstance(value, str):
            if value == SKIP_HEADER:
                continue
            try:
                encoded = value.encode("latin-1")
            except UnicodeEncodeError:
                encoded = value.encode("utf-8")
        elif isinstance(value, (bytes, bytearray)):
            if value == SKIP_HEADER.encode():
                continue
            encoded = bytes(value)
        elif isinstance(value, int):
            # As http.client sends a number.
            encoded = str(value).encode("ascii")
        else:
            raise TypeError(f"Header {name!r} has a value of type "
                            f"{type(value).__name__}, not str or bytes")
        out.append((name, encoded))
    return out


def _check_header_count(response: BaseResponse) -> None:
    """http.client's limit on response header fields (``_MAXHEADERS``, 100,
    which HTTPie's ``--max-headers`` changes), with its message."""
    limit = http.client._MAXHEADERS  # type: ignore[attr-defined]
    if sum(1 for _ in response.headers.iter_raw()) > limit:
        response.close()
        raise RemoteProtocolError(f"got more than {limit} headers")
