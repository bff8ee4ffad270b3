"""Servers requests reaches, hyper reaches: a TLS 1.2 server with only a
cipher suite RFC 9113 forbids for HTTP/2, and what happens when the CA file
holds no certificate.

The server is nginx restricted to TLS 1.2 and ECDHE-ECDSA-AES128-SHA256 (a
CBC suite; the test certificates are ECDSA) with ``http2`` on its listener:
nginx then picks ``h2`` by ALPN over that suite anyway, so hyper must ask
again offering HTTP/1.1 alone.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import hyper
from hyper import HTTP20Connection, HTTPConnection
from hyper.exceptions import ConnectError, TLSError
from hyper.pool import ConnectionPool, ContextCache, PoolKey, TLSSettings, make_context
from hyper.tls import create_context, h2_allowed, http11_twin, init_context

pytestmark = pytest.mark.timeout(60)

TIMEOUT = (10.0, 20.0)
CBC_SUITE = "ECDHE-ECDSA-AES128-SHA256"


@pytest.fixture
def cbc_server(start_nginx: Any) -> Any:
    return start_nginx(f"ssl_protocols TLSv1.2; ssl_ciphers {CBC_SUITE};")


def test_the_server_really_picks_h2_over_a_forbidden_suite(cbc_server: Any, certs: Any) -> None:
    # Control: a plain stdlib client offering h2 gets it, over the CBC suite.
    import socket

    context = ssl.create_default_context(cafile=str(certs.ca_path))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", cbc_server.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="localhost") as tls:
        assert (tls.selected_alpn_protocol(), tls.version()) == ("h2", "TLSv1.2")
        cipher = tls.cipher()
        assert cipher is not None
        assert cipher[0] == CBC_SUITE


def test_http_connection_falls_back_to_http11(cbc_server: Any, certs: Any) -> None:
    context = hyper.tls.init_context(cert_path=str(certs.ca_path))

    with HTTPConnection(cbc_server.host, cbc_server.port, secure=True, ssl_context=context,
                        timeout=TIMEOUT) as conn:
        conn.request("GET", "/small.txt")
        response = conn.get_response()
        assert response.status == 200
        assert conn.negotiated_protocol == "http/1.1"
        sock = conn.connection._sock  # type: ignore[union-attr]
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.cipher() is not None and sock.cipher()[0] == CBC_SUITE  # type: ignore[index]


def test_the_pool_falls_back_to_http11(cbc_server: Any, certs: Any) -> None:
    key = PoolKey.for_url(cbc_server.url, tls=TLSSettings(verify=str(certs.ca_path)))

    with ConnectionPool() as pool:
        response = pool.request(key, "GET", "/small.txt", timeout=TIMEOUT)
        assert (response.status, response.version) == (200, 11)
        assert response.read()


def test_http20_connection_is_told_http2_is_not_possible(cbc_server: Any, certs: Any) -> None:
    context = init_context(cert_path=str(certs.ca_path))
    conn = HTTP20Connection(cbc_server.host, cbc_server.port, secure=True, ssl_context=context,
                            timeout=TIMEOUT)

    with pytest.raises(ConnectError, match=r"did not agree to HTTP/2.*'http/1.1'"):
        conn.connect()
    conn.close()


def test_a_context_hyper_did_not_make_gets_a_clear_error(cbc_server: Any, certs: Any) -> None:
    context = ssl.create_default_context(cafile=str(certs.ca_path))
    context.set_alpn_protocols(["h2", "http/1.1"])
    conn = HTTPConnection(cbc_server.host, cbc_server.port, secure=True, ssl_context=context,
                          timeout=TIMEOUT)

    with pytest.raises(TLSError, match=rf"chose HTTP/2 over TLSv1.2 with the cipher suite"
                                       f" {CBC_SUITE}, which RFC 9113 section 9.2.2 forbids"
                                       ".*hyper.tls.init_context"):
        conn.request("GET", "/")
    conn.close()


def test_http2_still_where_the_suite_allows_it(nginx_server: Any, certs: Any) -> None:
    context = init_context(cert_path=str(certs.ca_path))
    context.maximum_version = ssl.TLSVersion.TLSv1_2

    with HTTPConnection(nginx_server.host, nginx_server.port, secure=True, ssl_context=context,
                        timeout=TIMEOUT) as conn:
        conn.get_response(conn.request("GET", "/small.txt")).read()
        assert conn.negotiated_protocol == "h2"


# -- the twin context ------------------------------------------------------------------


def test_the_twin_offers_http11_and_keeps_the_settings(cbc_server: Any, certs: Any) -> None:
    context = create_context(str(certs.ca_path), cert=str(certs.client_combined_path))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False

    twin = http11_twin(context)

    assert twin is not None
    assert http11_twin(context) is twin
    assert twin.maximum_version == ssl.TLSVersion.TLSv1_2
    assert twin.check_hostname is False
    assert twin.verify_mode == ssl.CERT_REQUIRED
    assert {c["name"] for c in twin.get_ciphers()} == {c["name"] for c in context.get_ciphers()}
    import socket

    with socket.create_connection(("127.0.0.1", cbc_server.port), timeout=10) as raw, \
            twin.wrap_socket(raw, server_hostname="localhost") as tls:
        assert tls.selected_alpn_protocol() == "http/1.1"


def test_contexts_hyper_did_not_make_have_no_twin() -> None:
    assert http11_twin(ssl.create_default_context()) is None


@pytest.mark.parametrize(("version", "cipher", "allowed"), [
    ("TLSv1.3", "TLS_AES_128_GCM_SHA256", True),
    ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256", True),
    ("TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305", True),
    ("TLSv1.2", "DHE-RSA-AES256-GCM-SHA384", True),
    ("TLSv1.2", CBC_SUITE, False),
    ("TLSv1.2", "AES128-GCM-SHA256", False),
    ("TLSv1.1", "ECDHE-RSA-AES128-SHA", False),
    (None, None, False),
])
def test_which_suites_http2_allows(version: str | None, cipher: str | None,
                                   allowed: bool) -> None:
    assert h2_allowed(version, cipher) is allowed


# -- a CA file without a certificate ------------------------------------------------


@pytest.fixture(params=["empty", "text", "key only"])
def no_ca(request: pytest.FixtureRequest, tmp_path: Path, certs: Any) -> Iterator[str]:
    path = tmp_path / "bundle.pem"
    contents = {
        "empty": b"",
        "text": b"not a certificate\n",
        "key only": Path(certs.server_key_path).read_bytes(),
    }
    path.write_bytes(contents[str(request.param)])
    yield str(path)


@pytest.mark.parametrize("make", [
    lambda path: init_context(cert_path=path),
    lambda path: create_context(verify=path),
    lambda path: make_context(TLSSettings(verify=path)),
    lambda path: ContextCache().get(TLSSettings(verify=path)),
])
def test_a_ca_file_without_certificates_is_a_tls_error(no_ca: str, make: Any) -> None:
    with pytest.raises(TLSError, match=rf"Could not load CA certificates from {no_ca}: .*"
                                       "must hold one or more PEM certificates") as info:
        make(no_ca)
    assert isinstance(info.value.__cause__, ssl.SSLError)


def test_the_pool_raises_it_too(no_ca: str) -> None:
    key = PoolKey.for_url("https://localhost:1", tls=TLSSettings(verify=no_ca))

    with ConnectionPool() as pool, pytest.raises(TLSError, match=r"Could not load CA"):
        pool.request(key, "GET", "/", timeout=TIMEOUT)
