"""PoolManager: the face of hyper's pool that requests' HTTPAdapter code
holds as ``adapter.poolmanager`` (and, per proxy, in
``adapter.proxy_manager``).

requests calls ``connection_from_host(scheme=, host=, port=,
pool_kwargs=)`` with the TLS settings of the request in ``pool_kwargs``
(``_urllib3_request_context``) and ``clear()`` when the adapter closes.
Each call answers an :class:`OriginPool` for that origin and those
settings, kept (the most recently used ``num_pools`` of them, as urllib3
keeps its pools) so that the per-request cost is one dictionary look-up.
All origin pools of an adapter send through the one
:class:`hyper.pool.ConnectionPool`, which owns the connections.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from urllib3.exceptions import LocationValueError

from ..pool import ConnectionPool, ProxySettings
from ._origin import ConnectionOptions, OriginPool

_DEFAULT_PORTS = {"http": 80, "https": 443}

#: The pool keywords requests sets (``_urllib3_request_context``) and
#: ``cert_verify``'s counterpart for HTTPie's key password.
_TLS_KEYWORDS = frozenset({"cert_reqs", "ca_certs", "ca_cert_dir", "cert_file", "key_file",
                           "key_password"})


def check_pool_kwargs(pool_kwargs: Mapping[str, Any]) -> None:
    """Refuse urllib3 pool options hyper does not implement, by name,
    rather than ignore them."""
    unknown = sorted(set(pool_kwargs) - _TLS_KEYWORDS)
    if unknown:
        raise TypeError(f"HTTP20Adapter does not support the urllib3 pool option(s) "
                        f"{', '.join(unknown)}; its own options are HTTP20Adapter's "
                        "arguments (ciphers, ssl_version, ...)")


class PoolManager:
    """urllib3's ``PoolManager`` interface over a hyper ConnectionPool,
    direct or through one proxy."""

    def __init__(
        self,
        pool: ConnectionPool,
        options: ConnectionOptions,
        proxy: ProxySettings | None = None,
        num_pools: int = 10,
    ) -> None:
        self.pool = pool
        self.proxy = proxy
        self._options = options
        self._num_pools = max(1, num_pools)
        self._lock = threading.Lock()
        self._origins: OrderedDict[Hashable, OriginPool] = OrderedDict()

    @property
    def pools(self) -> Mapping[Hashable, OriginPool]:
        """The origin pools kept, by (scheme, host, port, pool options), as
        urllib3's ``PoolManager.pools`` (read-only)."""
        return MappingProxyType(self._origins)

    def connection_from_host(
        self,
        host: str | None,
        port: int | None = None,
        scheme: str | None = "http",
        pool_kwargs: Mapping[str, Any] | None = None,
    ) -> OriginPool:
        """The origin pool for ``scheme://host:port`` with ``pool_kwargs``'
        TLS settings. A missing host is urllib3's LocationValueError
        (requests turns it into InvalidURL)."""
        if not host:
            raise LocationValueError("No host specified.")
        scheme = (scheme or "http").lower()
        if scheme not in _DEFAULT_PORTS:
            raise LocationValueError(f"Unsupported scheme {scheme!r}: use http or https")
        kwargs = dict(pool_kwargs or {})
        check_pool_kwargs(kwargs)
        port = port or _DEFAULT_PORTS[scheme]
        host = host.lower()
        cache_key = (scheme, host, port, tuple(sorted(kwargs.items())))
        with self._lock:
            origin = self._origins.get(cache_key)
            if origin is not None:
                self._origins.move_to_end(cache_key)
                return origin
            origin = OriginPool(self.pool, scheme, host, port, self._options, self.proxy,
                                **kwargs)
            self._origins[cache_key] = origin
            if len(self._origins) > self._num_pools:
                self._origins.popitem(last=False)
            return origin

    def connection_from_url(
        self, url: str, pool_kwargs: Mapping[str, Any] | None = None,
    ) -> OriginPool:
        """The origin pool for ``url``'s origin (requests' deprecated
        ``get_connection`` uses this)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise LocationValueError(f"Invalid URL {url!r}: {exc}") from exc
        return self.connection_from_host(parts.hostname, port, parts.scheme or "http",
                                         pool_kwargs)

    def clear(self) -> None:
        """Forget the origin pools and close the connections (busy ones
        once their responses are done); the manager stays usable."""
        with self._lock:
            self._origins.clear()
        self.pool.close()
