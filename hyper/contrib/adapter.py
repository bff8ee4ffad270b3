"""HTTP20Adapter: requests over HTTP/2 (and HTTP/1.1 where the server has no HTTP/2).

>>> import requests
>>> from hyper.contrib import HTTP20Adapter
>>> session = requests.Session()
>>> session.mount("https://", HTTP20Adapter())

HTTP20Adapter is requests' own ``HTTPAdapter`` with hyper plugged in at the
seam requests already has: the pool manager. ``send`` is HTTPAdapter's,
unchanged, so proxy selection, ``cert_verify``, timeouts, urllib3's
``Retry``, the mapping of urllib3's exceptions to requests' and
``build_response`` are requests' own code, and every tool that hooks
``HTTPAdapter`` (``responses``, subclasses overriding ``add_headers`` or
``cert_verify``) sees HTTP20Adapter as one. What HTTP20Adapter replaces:

- ``init_poolmanager`` makes a :class:`hyper.pool.ConnectionPool` (the
  connections: HTTP/2 shared by every thread, HTTP/1.1 kept alive) and a
  :class:`PoolManager` over it (``hyper.contrib._manager``);
- ``proxy_manager_for`` gives a PoolManager through that proxy, from any
  proxy URL ``hyper.pool.ProxySettings`` accepts;
- ``cert_verify`` also passes on the key password of a
  ``(cert, key, password)`` triple (HTTPie's certificate).

The origin pools (``hyper.contrib._origin``) answer ``urlopen`` as
urllib3's pools do, raising urllib3's exceptions and returning genuine
urllib3 ``HTTPResponse`` objects (``hyper.contrib._raw``).
"""

from __future__ import annotations

import math
import ssl
from collections.abc import Mapping
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.exceptions import LocationValueError
from urllib3.util.retry import Retry

from ..common.settings import H2CMode
from ..exceptions import InvalidURLError
from ..http20.window import BaseFlowControlManager
from ..pool import ConnectionPool, PoolConnection, ProxySettings
from ._manager import PoolManager, check_pool_kwargs
from ._origin import ConnectionOptions

_DEFAULT_POOLSIZE = 10


class HTTP20Adapter(HTTPAdapter):
    """A requests transport adapter speaking HTTP/2, with HTTP/1.1 fallback.

    One HTTP/2 connection per origin carries the requests of every thread;
    origins without HTTP/2 get a keep-alive pool as with HTTPAdapter.

    :param window_manager: the HTTP/2 flow-control manager class.
    :param pool_connections: origins (pools) kept, as HTTPAdapter's.
    :param pool_maxsize: connections kept per origin, as HTTPAdapter's.
    :param max_retries: an int or a urllib3 ``Retry``, applied exactly as
        HTTPAdapter applies it (default: no retries).
    :param pool_block: wait for a free connection instead of opening more.
    :param h2c: plaintext HTTP/2: ``"upgrade"`` (try ``Upgrade: h2c``),
        ``"prior-knowledge"`` or ``"off"``.
    :param ciphers: an OpenSSL cipher string for TLS 1.2 and below.
    :param ssl_version: an ``ssl.TLSVersion`` to use, and only that one.
    :param idle_timeout: close connections idle this many seconds.
    :param pool_timeout: the longest wait for a connection when blocking.
    :param retry_idempotent: send a request with an idempotent method once
        more, on a new connection, when its connection failed before the
        response head arrived (see ``hyper.pool.ConnectionPool``).
    """

    #: What is pickled (the pool, its sockets and locks are not).
    __attrs__ = [  # noqa: RUF012 - HTTPAdapter's name and type
        *HTTPAdapter.__attrs__,
        "window_manager",
        "h2c",
        "ciphers",
        "ssl_version",
        "idle_timeout",
        "pool_timeout",
        "retry_idempotent",
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
        retry_idempotent: bool = True,
        **kwargs: Any,
    ) -> None:
        if kwargs:
            raise TypeError(f"Unexpected arguments: {', '.join(sorted(kwargs))}")
        # Positional arguments after window_manager follow HTTPAdapter's order.
        positional = ("pool_connections", "pool_maxsize", "max_retries", "pool_block")
        if len(args) > len(positional):
            raise TypeError(f"HTTP20Adapter takes at most {len(positional) + 1} "
                            "positional arguments")
        given = dict(zip(positional, args))
        self.window_manager = window_manager
        self.h2c = H2CMode(h2c)
        self.ciphers = ciphers
        self.ssl_version = ssl_version
        self.idle_timeout = idle_timeout
        self.pool_timeout = pool_timeout
        self.retry_idempotent = retry_idempotent
        super().__init__(
            given.get("pool_connections", pool_connections),
            given.get("pool_maxsize", pool_maxsize),
            given.get("max_retries", max_retries),
            given.get("pool_block", pool_block),
        )

    # -- the seam: pool managers backed by hyper's pool -------------------------------

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any,
    ) -> None:
        """Make the hyper pool and the pool manager requests sends through."""
        check_pool_kwargs(pool_kwargs)
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.pool = self.make_pool(connections, maxsize, block)
        self._options = ConnectionOptions(self.ciphers, self.ssl_version, self.h2c)
        self.poolmanager = PoolManager(self.pool, self._options, num_pools=connections)

    def make_pool(self, connections: int, maxsize: int, block: bool) -> ConnectionPool:
        """The hyper pool every request of this adapter goes through (a
        subclass may return one with its own ``connection_factory``)."""
        return ConnectionPool(
            maxsize=maxsize,
            block=block,
            max_keys=connections,
            idle_timeout=self.idle_timeout,
            pool_timeout=self.pool_timeout,
            retry_idempotent=self.retry_idempotent,
            window_manager=self.window_manager,
            # The limit is http.client's, read per request by the origin
            # pools (HTTPie's --max-headers sets it); none below that.
            max_headers=math.inf,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> PoolManager:
        """The pool manager sending through ``proxy`` (any URL
        ``ProxySettings.from_url`` accepts; credentials in it become
        ``proxy_headers``). A URL it refuses is urllib3's
        LocationValueError, which requests reports as InvalidURL."""
        manager: PoolManager | None = self.proxy_manager.get(proxy)
        if manager is None:
            check_pool_kwargs(proxy_kwargs)
            try:
                settings = ProxySettings.from_url(proxy, list(self.proxy_headers(proxy).items()))
            except InvalidURLError as exc:
                raise LocationValueError(f"Invalid proxy URL: {exc}") from exc
            manager = PoolManager(self.pool, self._options, settings,
                                  num_pools=self._pool_connections)
            self.proxy_manager[proxy] = manager
        return manager

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        """HTTPAdapter's, and the key password of a ``(cert, key, password)``
        triple (HTTPie's ``--cert-key-pass``)."""
        super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
        has_password = isinstance(cert, tuple) and len(cert) > 2
        conn.key_password = cert[2] if has_password else None

    @property
    def connections(self) -> Mapping[str, list[PoolConnection]]:
        """The adapter's open connections by netloc ("host:port"), in the
        order they were opened (hyper 0.7's ``HTTP20Adapter.connections``)."""
        found: dict[str, list[PoolConnection]] = {}
        for key in self.pool.pool_keys():
            found.setdefault(f"{key.host}:{key.port}", []).extend(self.pool.connections(key))
        return found
