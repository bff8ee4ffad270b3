"""The pool's keys and TLS contexts: which proxies and schemes a key takes,
TLS settings that must match, unparsable URLs, and the context cache (one
context per settings until cleared).
"""

from __future__ import annotations

import pytest

from hyper.exceptions import InvalidURLError
from hyper.pool import (
    ContextCache,
    PoolKey,
    ProxySettings,
    TLSSettings,
)
from servers import Certs

pytestmark = pytest.mark.timeout(60)


def test_proxy_urls_of_unknown_schemes_are_refused() -> None:
    with pytest.raises(InvalidURLError, match="Unsupported proxy scheme"):
        ProxySettings.from_url("ftp://127.0.0.1:3128")
    with pytest.raises(InvalidURLError, match="No host in 'http:///path'"):
        PoolKey.for_url("http:///path")
    proxy = ProxySettings.from_url("HTTP://127.0.0.1:3128", {"Proxy-Authorization": "x"})
    assert (proxy.host, proxy.port) == ("127.0.0.1", 3128)


def test_keys_refuse_other_schemes_and_mismatched_tls_settings() -> None:
    with pytest.raises(InvalidURLError, match="Unsupported scheme 'ftp'"):
        PoolKey("ftp", "localhost", 21)
    with pytest.raises(InvalidURLError, match="https keys need them"):
        PoolKey("https", "localhost", 443)
    with pytest.raises(InvalidURLError, match="TLS settings belong to https keys"):
        PoolKey("http", "localhost", 80, TLSSettings())
    with pytest.raises(InvalidURLError, match="Unsupported scheme in 'ftp://localhost/'"):
        PoolKey.for_url("ftp://localhost/")


def test_unparsable_url_is_an_invalid_url_error() -> None:
    # urlsplit itself refuses an unterminated IPv6 literal.
    with pytest.raises(InvalidURLError, match="Invalid URL") as info:
        PoolKey.for_url("http://[::1/")
    assert isinstance(info.value.__cause__, ValueError)


def test_context_cache_makes_one_context_per_settings_until_cleared(certs: Certs) -> None:
    cache = ContextCache()
    settings = TLSSettings(verify=str(certs.ca_path))
    first = cache.get(settings)
    assert cache.get(TLSSettings(verify=str(certs.ca_path))) is first
    assert cache.get(TLSSettings(verify=False)) is not first
    cache.clear()
    # Made again: a CA file changed on disk is read anew.
    assert cache.get(settings) is not first
