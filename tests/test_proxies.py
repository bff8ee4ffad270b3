"""HTTP proxies, http:// (tinyproxy) and https:// (TLS in front of
tinyproxy), through the pool and the connections; what a proxy URL means.
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import require_binary
from hyper import HTTPConnection
from hyper.common.proxy import ProxyConfig, parse_proxy_url, proxy_config
from hyper.common.transport import Opener, open_transport
from hyper.exceptions import ConnectTimeout, InvalidURLError, ProxyError
from hyper.pool import ConnectionPool, PoolKey, ProxySettings, TLSSettings
from proxy_servers import TLSFrontend, nothing_listens, start_microsocks
from tcppeer import OK, Peers, hang_up, head, read_some, reply

pytestmark = pytest.mark.timeout(60)

TIMEOUT = (10.0, 20.0)


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with ConnectionPool() as pool:
        yield pool


def server_context(certs: Any) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(certs.server_cert_path), str(certs.server_key_path))
    return context


@pytest.fixture(scope="module")
def https_proxy(tinyproxy_server: Any, certs: Any) -> Iterator[TLSFrontend]:
    frontend = TLSFrontend(server_context(certs), (tinyproxy_server.host, tinyproxy_server.port))
    yield frontend
    frontend.close()
    assert frontend.errors == []


@pytest.fixture(scope="module")
def https_auth_proxy(tinyproxy_auth_server: Any, certs: Any) -> Iterator[TLSFrontend]:
    upstream = (tinyproxy_auth_server.host, tinyproxy_auth_server.port)
    frontend = TLSFrontend(server_context(certs), upstream)
    yield frontend
    frontend.close()


def get(pool: ConnectionPool, url: str, proxy: ProxySettings, certs: Any,
        path: str = "/get") -> Any:
    tls = TLSSettings(verify=str(certs.ca_path)) if url.startswith("https") else None
    return pool.request(PoolKey.for_url(url, tls=tls, proxy=proxy), "GET", path,
                        timeout=TIMEOUT)


# -- http:// proxies --------------------------------------------------------------------------


def test_http2_and_http11_origins_through_an_http_proxy(
    pool: ConnectionPool, tinyproxy_server: Any, h2_server: Any, h1_tls_server: Any,
    h1_server: Any, certs: Any
) -> None:
    proxy = ProxySettings.from_url(tinyproxy_server.url)

    h2 = get(pool, h2_server.url, proxy, certs, "/token/h2")
    h1 = get(pool, h1_tls_server.url, proxy, certs, "/token/h1")
    plain = get(pool, h1_server.url, proxy, certs, "/get?via=proxy")

    assert (h2.version, h2.read()) == (20, b"h2")
    assert (h1.version, h1.read()) == (11, b"h1")
    assert plain.version == 11
    assert json.loads(plain.read())["query"] == "via=proxy"


def test_credentials_in_an_http_proxy_url(pool: ConnectionPool, tinyproxy_auth_server: Any,
                                          h2_server: Any, h1_server: Any, certs: Any) -> None:
    proxy = ProxySettings.from_url(tinyproxy_auth_server.url_with_auth)

    assert get(pool, h2_server.url, proxy, certs, "/token/in").read() == b"in"
    assert get(pool, h1_server.url, proxy, certs, "/token/plain").read() == b"plain"
    assert tinyproxy_auth_server.password not in repr(proxy)


def test_wrong_credentials_for_an_http_proxy(pool: ConnectionPool, tinyproxy_auth_server: Any,
                                             h2_server: Any, certs: Any) -> None:
    url = f"http://{tinyproxy_auth_server.username}:wrong@127.0.0.1:{tinyproxy_auth_server.port}"

    with pytest.raises(ProxyError, match=rf"proxy http://127.0.0.1:{tinyproxy_auth_server.port}"
                                         " refused the tunnel .*40[17]") as info:
        get(pool, h2_server.url, ProxySettings.from_url(url), certs)
    # tinyproxy says 401 to wrong credentials (407 to none).
    assert info.value.error_code in (401, 407)
    assert "wrong" not in str(info.value)


def test_an_unreachable_http_proxy(pool: ConnectionPool, h2_server: Any, certs: Any) -> None:
    port = nothing_listens()

    with pytest.raises(ProxyError, match=rf"Failed to connect to the proxy http://127.0.0.1:{port}"):
        get(pool, h2_server.url, ProxySettings.from_url(f"http://127.0.0.1:{port}"), certs)


# -- https:// proxies --------------------------------------------------------------------------


def test_plaintext_origin_through_an_https_proxy(
    pool: ConnectionPool, https_proxy: TLSFrontend, h1_server: Any, certs: Any
) -> None:
    proxy = ProxySettings.from_url(https_proxy.url())
    verified = ProxySettings(proxy.host, proxy.port, scheme="https",
                             tls=TLSSettings(verify=str(certs.ca_path)))

    response = get(pool, h1_server.url, verified, certs, "/get?over=tls")

    assert response.version == 11
    assert json.loads(response.read())["query"] == "over=tls"


def test_credentials_through_an_https_proxy(
    pool: ConnectionPool, https_auth_proxy: TLSFrontend, tinyproxy_auth_server: Any,
    h1_server: Any, certs: Any
) -> None:
    credentials = (tinyproxy_auth_server.username, tinyproxy_auth_server.password)
    parsed = ProxySettings.from_url(https_auth_proxy.url(credentials))
    proxy = ProxySettings(parsed.host, parsed.port, parsed.headers, "https",
                          tls=TLSSettings(verify=str(certs.ca_path)))

    assert get(pool, h1_server.url, proxy, certs, "/token/auth").read() == b"auth"


def test_tls_origin_through_an_https_proxy_is_refused_clearly(
    pool: ConnectionPool, https_proxy: TLSFrontend, h2_server: Any, certs: Any
) -> None:
    # The origin's TLS settings verify the proxy too (as requests does).
    proxy = ProxySettings.from_url(https_proxy.url())

    with pytest.raises(ProxyError, match=r"TLS inside TLS, which hyper does not do"):
        get(pool, h2_server.url, proxy, certs)


def test_an_https_proxy_is_verified(https_proxy: TLSFrontend, h1_server: Any) -> None:
    # Nothing says to trust the test CA: certifi's CAs do not.
    conn = HTTPConnection(h1_server.host, h1_server.port, proxy_host=https_proxy.url(),
                          timeout=TIMEOUT)

    with pytest.raises(ProxyError, match=r"Certificate verification failed for the proxy"
                                         f" https://localhost:{https_proxy.port}"):
        conn.request("GET", "/")
    conn.close()


def test_an_https_proxy_speaking_plaintext(tcp_peers: Peers, h1_server: Any) -> None:
    peer = tcp_peers([read_some(), reply(b"HTTP/1.1 400 Bad Request\r\n\r\n",
                                         tolerate_close=True)])
    conn = HTTPConnection(h1_server.host, h1_server.port,
                          proxy_host=f"https://127.0.0.1:{peer.port}", timeout=TIMEOUT)

    with pytest.raises(ProxyError, match=r"TLS handshake with the proxy https://127.0.0.1:"):
        conn.request("GET", "/")
    conn.close()


def test_an_https_proxy_hanging_up_in_the_handshake(tcp_peers: Peers, h1_server: Any) -> None:
    peer = tcp_peers([read_some(), hang_up()])
    conn = HTTPConnection(h1_server.host, h1_server.port,
                          proxy_host=f"https://127.0.0.1:{peer.port}", timeout=TIMEOUT)

    with pytest.raises(ProxyError, match=r"the proxy https://127.0.0.1:.*(lost|failed)"):
        conn.request("GET", "/")
    conn.close()


def test_a_silent_https_proxy_is_a_connect_timeout(tcp_peers: Peers, h1_server: Any) -> None:
    peer = tcp_peers([read_some()])
    conn = HTTPConnection(h1_server.host, h1_server.port,
                          proxy_host=f"https://127.0.0.1:{peer.port}", timeout=(0.5, 5))

    with pytest.raises(ConnectTimeout, match=r"TLS handshake with the proxy"):
        conn.request("GET", "/")
    conn.close()


# -- the opener --------------------------------------------------------------------------------


def test_plaintext_through_socks_goes_in_origin_form(tcp_peers: Peers,
                                                     tmp_path: Any) -> None:
    peer = tcp_peers([head(), reply(OK)])
    with start_microsocks(require_binary("microsocks"), tmp_path) as socks:
        conn = HTTPConnection("127.0.0.1", peer.port, proxy_host=socks.url("socks5"),
                              timeout=TIMEOUT)
        with conn:
            conn.request("GET", "/origin-form")
            assert conn.get_response().read() == b"hello"

    assert peer.heads[0].startswith(b"GET /origin-form HTTP/1.1\r\n")


def test_opener_and_open_transport(tinyproxy_server: Any, h2_server: Any,
                                   ssl_context: ssl.SSLContext) -> None:
    proxy = ProxyConfig(tinyproxy_server.host, tinyproxy_server.port)

    tunnelled = Opener(ssl_context, proxy, 10.0).open(h2_server.host, h2_server.port, secure=True)
    direct = open_transport(h2_server.host, h2_server.port, secure=False, ssl_context=None,
                            proxy=proxy, connect_timeout=10.0)

    assert (tunnelled.alpn, tunnelled.secure) == ("h2", True)
    # Plaintext through an HTTP proxy: the socket leads to the proxy itself.
    assert direct.sock.getpeername()[1] == tinyproxy_server.port
    assert (direct.alpn, direct.secure) == (None, False)
    tunnelled.sock.close()
    direct.sock.close()


# -- proxy URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "scheme", "port"), [
    ("http://proxy", "http", 80),
    ("HTTPS://proxy", "https", 443),
    ("socks4://proxy", "socks4", 1080),
    ("socks4a://proxy:9", "socks4a", 9),
    ("socks5://proxy", "socks5", 1080),
    ("socks5h://proxy/ignored/path", "socks5h", 1080),
])
def test_every_scheme_and_its_default_port(url: str, scheme: str, port: int) -> None:
    proxy = ProxySettings.from_url(url)

    assert (proxy.scheme, proxy.host, proxy.port) == (scheme, "proxy", port)
    assert proxy.config(None).forwards is (scheme in ("http", "https"))
    assert proxy.config(None).remote_dns is (scheme in ("socks4a", "socks5h"))


def test_credentials_of_http_proxies_become_proxy_authorization() -> None:
    proxy = ProxySettings.from_url("http://us%40er:p%3Ass@proxy:3128")
    token = base64.b64encode(b"us@er:p:ss").decode()

    assert proxy.headers == ((b"Proxy-Authorization", f"Basic {token}".encode()),)
    assert (proxy.username, proxy.password) == (None, None)
    # A header the caller gives wins.
    given = ProxySettings.from_url("http://u:p@proxy", {"proxy-authorization": "Bearer x"})
    assert given.headers == ((b"proxy-authorization", b"Bearer x"),)
    assert ProxySettings.from_url("http://u@proxy").headers[0][1] == (
        b"Basic " + base64.b64encode(b"u:"))


def test_credentials_of_socks_proxies_are_the_username_and_password() -> None:
    proxy = ProxySettings.from_url("socks5h://us%20er:pa%2Fss@proxy")

    assert (proxy.username, proxy.password, proxy.headers) == ("us er", "pa/ss", ())
    assert "pa/ss" not in repr(proxy)


@pytest.mark.parametrize(("url", "match"), [
    ("ftp://u:secret@proxy", "Unsupported proxy scheme in 'ftp://proxy'"),
    ("http://u:secret@proxy:99999", "Invalid port in the proxy URL 'http://proxy:99999'"),
    ("socks5://u:secret@:1080", "No host in the proxy URL"),
    ("http://[::1", "Invalid proxy URL"),
])
def test_bad_proxy_urls(url: str, match: str) -> None:
    with pytest.raises(InvalidURLError, match=match) as info:
        ProxySettings.from_url(url)
    assert "secret" not in str(info.value)


def test_bad_schemes_in_settings() -> None:
    with pytest.raises(InvalidURLError, match=r"Unsupported proxy scheme 'gopher'"):
        ProxySettings("proxy", 1, scheme="gopher")
    with pytest.raises(InvalidURLError, match=r"Unsupported proxy scheme 'gopher'"):
        ProxyConfig("proxy", 1, scheme="gopher")


def test_what_the_connections_accept_as_proxy_host() -> None:
    ready = ProxyConfig("proxy", 1, scheme="socks5")

    assert proxy_config(None, None, None) is None
    assert proxy_config(ready, None, None) is ready
    assert proxy_config("proxy", None, {"X": "1"}) == ProxyConfig("proxy", 8080, ((b"X", b"1"),))
    assert proxy_config("socks5h://proxy", 9050, None) == ProxyConfig(
        "proxy", 9050, scheme="socks5h")
    assert parse_proxy_url("http://proxy").port == 80
    assert ProxyConfig("::1", 8080).name == "http://[::1]:8080"


def test_https_proxies_are_verified_as_the_origin_unless_told() -> None:
    origin = TLSSettings(verify="/origin-ca.pem")
    own = TLSSettings(verify="/proxy-ca.pem")
    https = ProxySettings("proxy", 443, scheme="https")

    assert PoolKey.for_url("https://a", tls=origin, proxy=https).proxy_tls == origin
    assert PoolKey.for_url("http://a", proxy=https).proxy_tls == TLSSettings()
    told = ProxySettings("proxy", 443, scheme="https", tls=own)
    assert PoolKey.for_url("https://a", tls=origin, proxy=told).proxy_tls == own
