"""The urllib3 face HTTP20Adapter gives requests: the pool manager
(``adapter.poolmanager``, ``proxy_manager_for``) and the origin pools whose
``urlopen`` takes urllib3's arguments, used directly as HTTPAdapter code
and its subclasses use them. Real servers on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from urllib3.exceptions import (
    HostChangedError,
    LocationValueError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util import SKIP_HEADER, Retry, Timeout

from hyper.contrib import HTTP20Adapter
from hyper.contrib._manager import PoolManager
from hyper.contrib._origin import OriginPool
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def adapter() -> Iterator[HTTP20Adapter]:
    adapter = HTTP20Adapter(h2c="off")
    yield adapter
    adapter.close()


def origin(adapter: HTTP20Adapter, server: Server, **pool_kwargs: Any) -> OriginPool:
    scheme, _, rest = server.url.partition("://")
    host, _, port = rest.partition(":")
    pool: OriginPool = adapter.poolmanager.connection_from_host(
        host, int(port), scheme, pool_kwargs=pool_kwargs)
    return pool


def test_urlopen_with_urllib3s_defaults_preloads(adapter: HTTP20Adapter, h1_server: Server) -> None:
    pool = origin(adapter, h1_server)
    r = pool.urlopen("GET", "/token/preloaded")
    assert isinstance(r, urllib3.HTTPResponse)
    assert (r.status, r.data, r.version) == (200, b"preloaded", 11)
    assert str(pool) == f"HTTPConnectionPool(host='{pool.host}', port={pool.port})"
    pool.close()  # nothing of its own: the adapter's pool holds the connections
    assert pool.urlopen("GET", "/token/again", timeout=Timeout(5)).data == b"again"


def test_https_origin_and_tls_keywords(adapter: HTTP20Adapter, h2_server: Server,
                                       certs: Certs) -> None:
    pool = origin(adapter, h2_server, cert_reqs="CERT_REQUIRED", ca_certs=str(certs.ca_path))
    assert str(pool).startswith("HTTPSConnectionPool(")
    r = pool.urlopen("GET", "/token/tls", preload_content=False, decode_content=False)
    assert (r.version, r.read()) == (20, b"tls")
    # cert_verify may change the TLS attributes between requests.
    pool.ca_certs = None
    pool.ca_cert_dir = str(certs.ca_path.parent)
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        pool.urlopen("GET", "/token/tls", retries=0)


def test_assert_same_host(adapter: HTTP20Adapter, h1_server: Server) -> None:
    pool = origin(adapter, h1_server)
    assert pool.urlopen("GET", h1_server.url + "/token/absolute").data == b"absolute"
    for other in ("http://other.invalid/x", "http://[::1/x"):
        with pytest.raises(HostChangedError):
            pool.urlopen("GET", other)
    assert pool.urlopen("GET", h1_server.url + "/token/x", assert_same_host=False).data == b"x"


def test_header_values_as_http_client_takes_them(
    adapter: HTTP20Adapter, h1_server: Server,
) -> None:
    pool = origin(adapter, h1_server)
    r = pool.urlopen("GET", "/get", headers={"X-Number": 5, "X-Skipped": SKIP_HEADER.encode(),
                                             "X-Bytes": b"raw"})
    received = {name.lower(): value for name, value in json.loads(r.data)["headers"]}
    assert (received["x-number"], received["x-bytes"]) == ("5", "raw")
    assert "x-skipped" not in received
    with pytest.raises(TypeError, match="X-List"):
        pool.urlopen("GET", "/get", headers={"X-List": ["a"]})


def test_a_body_that_cannot_be_rewound_is_not_sent_again(
    adapter: HTTP20Adapter, h1_server: Server,
) -> None:
    pool = origin(adapter, h1_server)
    anything = Retry(total=2, read=2, status_forcelist=[500], allowed_methods=None)
    # A read timeout once the body went out: raised at once, not retried.
    with pytest.raises(ReadTimeoutError):
        pool.urlopen("POST", "/delay/10", body=iter([b"a"]), retries=anything,
                     timeout=Timeout(connect=5, read=0.3))
    # A retryable status: the response is returned, not retried.
    r = pool.urlopen("POST", "/flaky/500/1/unrewindable", body=iter([b"a"]), retries=anything)
    assert (r.status, r.data) == (500, b"1")


def test_a_body_that_cannot_be_rewound_is_retried_when_never_sent(adapter: HTTP20Adapter) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        pool = adapter.poolmanager.connection_from_host("127.0.0.1", port, "http")
        with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
            pool.urlopen("POST", "/", body=iter([b"a"]), retries=Retry(connect=2))
    assert isinstance(raised.value.reason, NewConnectionError)
    # Through a proxy that refuses: a ProxyError around the connect error.
    proxied = adapter.proxy_manager_for(f"http://127.0.0.1:{port}")
    pool = proxied.connection_from_host("127.0.0.1", 9, "http")
    with pytest.raises(urllib3.exceptions.MaxRetryError) as raised:
        pool.urlopen("POST", "/", body=iter([b"a"]), retries=Retry(connect=1))
    assert isinstance(raised.value.reason, urllib3.exceptions.ProxyError)


def test_pool_manager_keeps_origins_like_urllib3(adapter: HTTP20Adapter) -> None:
    manager: PoolManager = adapter.poolmanager
    first = manager.connection_from_url("https://127.0.0.1/x")
    assert manager.connection_from_host("127.0.0.1", 443, "HTTPS") is first
    assert manager.connection_from_url("http://127.0.0.1:8080").port == 8080
    assert len(manager.pools) == 2
    verified = manager.connection_from_host("127.0.0.1", 443, "https",
                                            pool_kwargs={"cert_reqs": "CERT_NONE"})
    assert verified is not first
    small = PoolManager(manager.pool, adapter._options, num_pools=1)
    a = small.connection_from_host("a.invalid")
    small.connection_from_host("b.invalid")
    assert small.connection_from_host("a.invalid") is not a
    assert len(small.pools) == 1
    manager.clear()
    assert len(manager.pools) == 0


@pytest.mark.parametrize(("call", "message"), [
    (lambda m: m.connection_from_host(None), "No host"),
    (lambda m: m.connection_from_host("h.invalid", scheme="ftp"), "ftp"),
    (lambda m: m.connection_from_url("http://h.invalid:99999/"), "Invalid URL"),
])
def test_pool_manager_refuses_what_urllib3_refuses(
    adapter: HTTP20Adapter, call: Any, message: str,
) -> None:
    with pytest.raises(LocationValueError, match=message):
        call(adapter.poolmanager)


def test_urllib3_options_hyper_does_not_implement_are_refused_by_name() -> None:
    class WithContext(HTTP20Adapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, ssl_context=object(), **kwargs)

    with pytest.raises(TypeError, match="ssl_context"):
        WithContext()
    adapter = HTTP20Adapter()
    with pytest.raises(TypeError, match="socket_options"):
        adapter.proxy_manager_for("http://127.0.0.1:3128", socket_options=[])
    with pytest.raises(TypeError, match="assert_hostname"):
        adapter.poolmanager.connection_from_host("h.invalid", pool_kwargs={"assert_hostname": "x"})


def test_proxy_managers_are_kept_per_proxy_url(adapter: HTTP20Adapter) -> None:
    manager = adapter.proxy_manager_for("http://user:pw@127.0.0.1:3128")
    assert adapter.proxy_manager_for("http://user:pw@127.0.0.1:3128") is manager
    assert manager.proxy is not None
    assert manager.proxy.headers == ((b"Proxy-Authorization", b"Basic dXNlcjpwdw=="),)
    with pytest.raises(LocationValueError, match="proxy"):
        adapter.proxy_manager_for("http://")
