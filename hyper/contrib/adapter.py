"""HTTP20Adapter: requests over HTTP/2 (and HTTP/1.1 where the server has no HTTP/2).

>>> import requests
>>> from hyper.contrib import HTTP20Adapter
>>> session = requests.Session()
>>> session.mount("https://", HTTP20Adapter())

The adapter turns a PreparedRequest into a pool request (hyper.pool), and
the response into a requests.Response whose ``raw`` is a urllib3
HTTPResponse (hyper.contrib._raw). It is the one place where hyper's errors
become requests' exceptions during ``send``; while the body is read, the
raw response raises urllib3's, which requests maps itself.
"""

from __future__ import annotations

import os
import ssl
import warnings
from collections.abc import Mapping
from typing import Any, ClassVar, Union

from requests import exceptions as rq
from requests.adapters import BaseAdapter
from requests.auth import _basic_auth_str
from requests.cookies import extract_cookies_to_jar
from requests.models import PreparedRequest, Response
from requests.structures import CaseInsensitiveDict
from requests.utils import (
    get_auth_from_url,
    get_encoding_from_headers,
    select_proxy,
)
from urllib3.exceptions import InsecureRequestWarning
from urllib3.util import SKIP_HEADER, Timeout
from urllib3.util.retry import Retry

from ..common.response import BaseResponse
from ..common.settings import H2CMode
from ..common.timeouts import TimeoutConfig
from ..exceptions import (
    ConnectTimeout,
    ContentDecodingError,
    HyperError,
    InvalidHeaderError,
    InvalidURLError,
    ProxyError,
    ReadTimeout,
    TLSError,
)
from ..http20.window import BaseFlowControlManager
from ..pool import ConnectionPool, PoolKey, ProxySettings, TLSSettings, request_target
from ._raw import make_raw

_TimeoutArg = Union[None, float, int, tuple[Any, Any], Timeout]
_Cert = Union[None, str, tuple[str, str], tuple[str, str, Union[str, bytes, None]]]

_DEFAULT_POOLSIZE = 10

# hyper's errors as requests' exceptions, most specific first: the same
# outcome HTTPAdapter gives for the matching urllib3 error.
_SEND_ERRORS: tuple[tuple[type[HyperError], type[rq.RequestException]], ...] = (
    (ConnectTimeout, rq.ConnectTimeout),
    (ReadTimeout, rq.ReadTimeout),
    (TLSError, rq.SSLError),
    (ProxyError, rq.ProxyError),
    (InvalidHeaderError, rq.InvalidHeader),
    (InvalidURLError, rq.InvalidURL),
    (ContentDecodingError, rq.ContentDecodingError),
    # Anything else (refused, reset, closed, protocol errors, write and
    # pool timeouts) is what urllib3 reports as a connection failure.
    (HyperError, rq.ConnectionError),
)


def to_requests_error(
    exc: HyperError, request: PreparedRequest | None = None
) -> rq.RequestException:
    """The requests exception for a hyper error raised while sending."""
    requests_type = next(
        (theirs for ours, theirs in _SEND_ERRORS if isinstance(exc, ours)),
        rq.ConnectionError,
    )
    error = requests_type(exc, request=request)
    error.__cause__ = exc
    return error


class HTTP20Adapter(BaseAdapter):
    """A requests transport adapter speaking HTTP/2, with HTTP/1.1 fallback.

    One HTTP/2 connection per origin carries the requests of every thread;
    origins without HTTP/2 get a keep-alive pool as with HTTPAdapter.

    :param window_manager: the HTTP/2 flow-control manager class.
    :param pool_connections: origins (pools) kept, as HTTPAdapter's.
    :param pool_maxsize: connections kept per origin, as HTTPAdapter's.
    :param max_retries: retries of failed connection attempts (an int or a
        urllib3 ``Retry``, whose ``connect`` or ``total`` count is used), as
        HTTPAdapter's. Requests the server did not process (HTTP/2 GOAWAY,
        REFUSED_STREAM) are always sent again on a new connection, up to 3 times,
        when their body can be replayed.
    :param pool_block: wait for a free connection instead of opening more.
    :param h2c: plaintext HTTP/2: ``"upgrade"`` (try ``Upgrade: h2c``),
        ``"prior-knowledge"`` or ``"off"``.
    :param ciphers: an OpenSSL cipher string for TLS 1.2 and below.
    :param ssl_version: an ``ssl.TLSVersion`` to use, and only that one.
    :param idle_timeout: close connections idle this many seconds.
    :param pool_timeout: the longest wait for a connection when blocking.
    """

    #: What is pickled (the pool, its sockets and locks are not).
    __attrs__: ClassVar[list[str]] = [
        "max_retries",
        "window_manager",
        "h2c",
        "ciphers",
        "ssl_version",
        "idle_timeout",
        "pool_timeout",
        "_pool_connections",
        "_pool_maxsize",
        "_pool_block",
    ]

    def __init__(
        self,
        window_manager: type[BaseFlowControlManager] | None = None,
        *args: Any,
        pool_connections: int = _DEFAULT_POOLSIZE,
        pool_maxsize: int = _DEFAULT_POOLSIZE,
        max_retries: int | Retry = 0,
        pool_block: bool = False,
        h2c: str | H2CMode = H2CMode.UPGRADE,
        ciphers: str | None = None,
        ssl_version: ssl.TLSVersion | None = None,
        idle_timeout: float | None = 60.0,
        pool_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(kwargs))}")
        # Positional arguments after window_manager follow HTTPAdapter's order.
        positional = ("pool_connections", "pool_maxsize", "max_retries", "pool_block")
        if len(args) > len(positional):
            raise TypeError(f"HTTP20Adapter takes at most {len(positional) + 1} "
                            "positional arguments")
        given = dict(zip(positional, args))
        pool_connections = given.get("pool_connections", pool_connections)
        pool_maxsize = given.get("pool_maxsize", pool_maxsize)
        max_retries = given.get("max_retries", max_retries)
        pool_block = given.get("pool_block", pool_block)

        self.window_manager = window_manager
        self.max_retries: Retry = (Retry(0, read=False) if max_retries == 0
                                   else Retry.from_int(max_retries))
        self.h2c = H2CMode(h2c)
        self.ciphers = ciphers
        self.ssl_version = ssl_version
        self.idle_timeout = idle_timeout
        self.pool_timeout = pool_timeout
        self._pool_connections = pool_connections
        self._pool_maxsize = pool_maxsize
        self._pool_block = pool_block
        self._make_pool()

    def _make_pool(self) -> None:
        self.pool = ConnectionPool(
            maxsize=self._pool_maxsize,
            block=self._pool_block,
            max_keys=self._pool_connections,
            idle_timeout=self.idle_timeout,
            pool_timeout=self.pool_timeout,
            connect_retries=_connect_retries(self.max_retries),
            window_manager=self.window_manager,
        )

    # -- pickling, as HTTPAdapter: settings only ---------------------------------

    def __getstate__(self) -> dict[str, Any]:
        return {attr: getattr(self, attr, None) for attr in self.__attrs__}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for attr, value in state.items():
            setattr(self, attr, value)
        self._make_pool()

    # -- requests' adapter interface ------------------------------------------------

    def send(
        self,
        request: PreparedRequest,
        stream: bool = False,
        timeout: _TimeoutArg = None,
        verify: bool | str = True,
        # requests passes a path or a (cert, key) pair; HTTPie a
        # (cert, key, password) triple.
        cert: Any = None,
        proxies: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a PreparedRequest; return a requests.Response.

        ``stream`` needs no handling here: the body is always read lazily,
        and requests reads it at once when ``stream`` is False.
        """
        url = request.url or ""
        try:
            key = self.pool_key(url, verify, cert, proxies)
        except InvalidURLError as exc:
            raise to_requests_error(exc, request) from exc
        config = resolve_timeout(timeout)
        if key.tls is not None and key.tls.verify is False:
            # What urllib3 does for every unverified request, so that code
            # silencing (or relying on) the warning behaves the same.
            warnings.warn(
                f"Unverified HTTPS request is being made to host '{key.host}'. "
                "Adding certificate verification is strongly advised.",
                InsecureRequestWarning,
                stacklevel=2,
            )
        self.add_headers(request, stream=stream, timeout=timeout, verify=verify, cert=cert,
                         proxies=proxies)
        try:
            response = self.pool.request(
                key,
                (request.method or "GET").upper(),
                request_target(url),
                request.body,
                self.request_headers(request),
                timeout=config,
            )
        except HyperError as exc:
            raise to_requests_error(exc, request) from exc
        return self.build_response(request, response)

    def close(self) -> None:
        """Close every pooled connection (busy ones once their response is done)."""
        self.pool.close()

    # -- steps of send(), overridable as HTTPAdapter's are ---------------------------------

    def pool_key(
        self,
        url: str,
        verify: bool | str = True,
        cert: _Cert = None,
        proxies: Mapping[str, str] | None = None,
    ) -> PoolKey:
        """Which connections may carry a request to ``url``."""
        scheme = url.split(":", 1)[0].lower()
        if scheme not in ("http", "https"):
            raise rq.InvalidSchema(f"HTTP20Adapter cannot send {scheme}:// URLs: {url!r}")
        tls = self.tls_settings(verify, cert) if scheme == "https" else None
        proxy = self.proxy_settings(url, proxies)
        return PoolKey.for_url(url, tls=tls, proxy=proxy, h2c=self.h2c)

    def tls_settings(self, verify: bool | str, cert: _Cert) -> TLSSettings:
        """TLS settings from requests' ``verify`` and ``cert``.

        Missing files raise OSError with HTTPAdapter's messages.
        """
        if isinstance(verify, str) and not os.path.exists(verify):
            raise OSError(
                f"Could not find a suitable TLS CA certificate bundle, invalid path: {verify}")
        if isinstance(verify, str):
            verify = os.path.abspath(verify)
        client: Any = None
        if cert:
            client = cert if isinstance(cert, str) else tuple(cert)
            files = [client] if isinstance(client, str) else list(client[:2])
            for role, path in zip(("certificate", "key"), files):
                if path and not os.path.exists(path):
                    raise OSError(f"Could not find the TLS {role} file, invalid path: {path}")
            if not isinstance(client, str) and len(client) == 3 and client[2] is None:
                client = client[:2]
        return TLSSettings(verify, client, self.ciphers, self.ssl_version)

    def proxy_settings(self, url: str, proxies: Mapping[str, str] | None) -> ProxySettings | None:
        """The proxy requests selected for ``url``, if any."""
        proxy_url = select_proxy(url, dict(proxies)) if proxies else None
        if not proxy_url:
            return None
        if "://" not in proxy_url:
            # requests accepts "host:port" and means http://.
            proxy_url = f"http://{proxy_url}"
        scheme = proxy_url.split(":", 1)[0].lower()
        if scheme != "http":
            raise rq.InvalidSchema(
                f"HTTP20Adapter supports http:// proxies only, not {scheme}:// ({proxy_url})")
        headers = list(self.proxy_headers(proxy_url).items())
        try:
            settings = ProxySettings.from_url(proxy_url, headers)
        except InvalidURLError as exc:
            raise rq.InvalidProxyURL(
                f"Please check proxy URL. It is malformed and could be missing the host: {exc}"
            ) from exc
        return settings

    def proxy_headers(self, proxy: str) -> dict[str, str]:
        """Headers for the proxy only: Proxy-Authorization from the URL's credentials."""
        username, password = get_auth_from_url(proxy)
        if username:
            return {"Proxy-Authorization": _basic_auth_str(username, password)}
        return {}

    def add_headers(self, request: PreparedRequest, **kwargs: Any) -> None:
        """A hook for subclasses to add headers; does nothing by default."""

    def request_headers(self, request: PreparedRequest) -> list[tuple[str, bytes]]:
        """The headers to send. urllib3's SKIP_HEADER means "send none" (for
        Host, the connection still sends the origin's, which HTTP/1.1 and
        HTTP/2 require). str values are encoded as latin-1, as http.client
        does; a value latin-1 cannot encode goes as UTF-8."""
        out = []
        for name, given in request.headers.items():
            # Typed as str, but callers (HTTPie among them) pass bytes too.
            value: object = given
            if value in (SKIP_HEADER, SKIP_HEADER.encode()):
                continue
            if isinstance(value, str):
                try:
                    encoded = value.encode("latin-1")
                except UnicodeEncodeError:
                    encoded = value.encode("utf-8")
            elif isinstance(value, (bytes, bytearray)):
                encoded = bytes(value)
            else:
                raise rq.InvalidHeader(f"Header {name!r} has a value of type "
                                    f"{type(value).__name__}, not str or bytes")
            out.append((name, encoded))
        return out

    def build_response(self, req: PreparedRequest, resp: BaseResponse) -> Response:
        """A requests.Response for hyper's response, as HTTPAdapter builds one."""
        response = Response()
        raw = make_raw(resp, request_method=req.method, request_url=req.url)
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(raw.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = raw
        response.reason = raw.reason or ""
        url: object = req.url
        response.url = url.decode("utf-8") if isinstance(url, bytes) else str(url or "")
        extract_cookies_to_jar(response.cookies, req, raw)  # type: ignore[no-untyped-call]
        response.request = req
        # Digest auth re-sends through response.connection.send().
        response.connection = self  # type: ignore[assignment]
        return response


def resolve_timeout(timeout: _TimeoutArg) -> TimeoutConfig:
    """requests' timeout argument: a number, a (connect, read) tuple, a
    urllib3 Timeout, or None. A malformed one is a ValueError, as with
    HTTPAdapter."""
    if isinstance(timeout, Timeout):
        # A Timeout with ``total`` computes its read part from a started
        # clock: start a copy's now (the connection has not begun yet).
        started = timeout.clone()
        started.start_connect()
        return TimeoutConfig(_number(started.connect_timeout), _number(started.read_timeout))
    if isinstance(timeout, tuple) and len(timeout) != 2:
        raise ValueError(
            f"Invalid timeout {timeout}. Pass a (connect, read) timeout tuple, "
            "or a single float to set both timeouts to the same value.")
    return TimeoutConfig.from_arg(timeout)


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


def _connect_retries(retries: Retry) -> int:
    """How many times a failed connection attempt is retried."""
    counts = [c for c in (retries.connect, retries.total) if isinstance(c, int)]
    return max(0, min(counts)) if counts else 0
