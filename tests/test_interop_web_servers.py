"""The core connections against real web servers: nginx, Apache httpd with
mod_http2 and h2o, each started by the tests on loopback (conftest's
``real_server`` runs a test against each in turn).

All three serve the same static files over TLS (ALPN h2 and http/1.1) and
plaintext, and proxy ``/app/`` to a hypercorn running tests/app.py. Apache's
and h2o's plaintext listeners also speak h2c (Upgrade and prior knowledge).
"""

from __future__ import annotations

import json
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from app import payload
from conftest import MAX_REQUESTS, WebServerFactory
from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.exceptions import StreamNotProcessedError
from hyper.tls import init_context
from servers import Certs, Server, WebServer

TIMEOUT = 15


def h2(server: Server, ssl_context: ssl.SSLContext, **kwargs: Any) -> HTTP20Connection:
    return HTTP20Connection(server.host, server.port, secure=True, ssl_context=ssl_context,
                            timeout=TIMEOUT, **kwargs)


def static(server: WebServer, name: str) -> bytes:
    return (Path(server.htdocs) / name).read_bytes()


#: Servers whose plaintext listener speaks h2c.
H2C_SERVERS = ["apache", "h2o"]



# -- over TLS ---------------------------------------------------------------------------


def test_static_and_proxied_multiplexed(real_server: WebServer,
                                        ssl_context: ssl.SSLContext) -> None:
    with h2(real_server, ssl_context) as conn:
        big = conn.request("GET", "/big.bin")
        small = conn.request("GET", "/small.txt")
        app = conn.request("GET", "/app/get?x=1", headers={"x-hello": real_server.kind})
        body = json.loads(conn.get_response(app).read())
        assert body["query"] == "x=1"
        assert ["x-hello", real_server.kind] in body["headers"]
        assert conn.get_response(small).read() == static(real_server, "small.txt")
        assert conn.get_response(big).read() == static(real_server, "big.bin")


def test_negotiating_connection_picks_h2_by_alpn(real_server: WebServer,
                                                 ssl_context: ssl.SSLContext) -> None:
    with HTTPConnection(real_server.host, real_server.port, secure=True,
                        ssl_context=ssl_context, timeout=TIMEOUT) as conn:
        stream_id = conn.request("GET", "/index.html")
        assert conn.negotiated_protocol == "h2"
        resp = conn.get_response(stream_id)
        assert resp.status == 200
        assert resp.read() == static(real_server, "index.html")


def test_http11_over_tls(real_server: WebServer, certs: Certs) -> None:
    """Offering only http/1.1 by ALPN, the server answers over HTTP/1.1."""
    context = init_context(cert_path=str(certs.ca_path))
    context.set_alpn_protocols(["http/1.1"])
    with HTTP11Connection(real_server.host, real_server.port, secure=True,
                          ssl_context=context, timeout=TIMEOUT) as conn:
        for name in ("small.txt", "big.bin"):
            conn.request("GET", f"/{name}")
            assert conn.get_response().read() == static(real_server, name)


def test_upload_through_the_proxy(real_server: WebServer, ssl_context: ssl.SSLContext) -> None:
    data = payload(1024 * 1024)
    with h2(real_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("POST", "/app/echo", body=data))
        assert resp.status == 200
        assert resp.read() == data


def test_missing_file_is_404(real_server: WebServer, ssl_context: ssl.SSLContext) -> None:
    with h2(real_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("GET", "/no-such-file"))
        assert resp.status == 404
        resp.read()


# -- over plaintext -----------------------------------------------------------------------


def test_http11_on_the_plaintext_listener(real_server: WebServer) -> None:
    plain = real_server.plain
    with HTTPConnection(plain.host, plain.port, h2c="off", timeout=TIMEOUT) as conn:
        for name in ("small.txt", "index.html"):
            assert conn.request("GET", f"/{name}") is None
            assert conn.negotiated_protocol == "http/1.1"
            assert conn.get_response().read() == static(real_server, name)


def test_nginx_declines_h2c_upgrade(nginx_server: WebServer) -> None:
    """nginx's plaintext listener speaks HTTP/1.1 only: the Upgrade request
    is answered over HTTP/1.1 and the connection stays HTTP/1.1."""
    plain = nginx_server.plain
    with HTTPConnection(plain.host, plain.port, timeout=TIMEOUT) as conn:
        assert conn.request("GET", "/small.txt") is None
        assert conn.negotiated_protocol == "http/1.1"
        assert conn.get_response().read() == static(nginx_server, "small.txt")
        conn.request("GET", "/app/get")
        assert json.loads(conn.get_response().read())["path"] == "/get"


@pytest.mark.parametrize("real_server", H2C_SERVERS, indirect=True)
def test_h2c_prior_knowledge(real_server: WebServer) -> None:
    plain = real_server.plain
    with HTTPConnection(plain.host, plain.port, h2c="prior-knowledge", timeout=TIMEOUT) as conn:
        first = conn.request("GET", "/small.txt")
        second = conn.request("GET", "/app/get")
        assert conn.negotiated_protocol == "h2c"
        assert json.loads(conn.get_response(second).read())["path"] == "/get"
        assert conn.get_response(first).read() == static(real_server, "small.txt")


@pytest.mark.parametrize("real_server", [
    "apache",
    "h2o",
], indirect=True)
def test_h2c_upgrade_then_more_requests(real_server: WebServer) -> None:
    """The first request goes out as HTTP/1.1 with ``Upgrade: h2c``; its
    answer comes on stream 1 and the following requests use HTTP/2."""
    plain = real_server.plain
    with HTTPConnection(plain.host, plain.port, timeout=TIMEOUT) as conn:
        assert conn.request("GET", "/small.txt") == 1
        assert conn.negotiated_protocol == "h2c"
        assert conn.get_response(1).read() == static(real_server, "small.txt")
        for _ in range(3):
            stream_id = conn.request("GET", "/app/get")
            assert json.loads(conn.get_response(stream_id).read())["path"] == "/get"


# -- per-connection limits -------------------------------------------------------------------


def test_goaway_after_max_requests(start_nginx: WebServerFactory,
                                   ssl_context: ssl.SSLContext) -> None:
    """nginx sends GOAWAY once its per-connection request limit is used up:
    the streams it accepted complete, a later one fails as not processed
    (safe to retry). (Apache's mod_http2 and h2o 2.2 have no such limit.)"""
    server = start_nginx.limited(max_requests=3)
    conn = h2(server, ssl_context)
    ids = [conn.request("GET", "/small.txt") for _ in range(3)]
    for stream_id in ids:
        assert conn.get_response(stream_id).read() == static(server, "small.txt")
    with pytest.raises(StreamNotProcessedError) as info:
        conn.get_response(conn.request("GET", "/small.txt"))
    assert info.value.retry_safe
    assert not conn.is_usable()
    conn.close()


@pytest.mark.parametrize("start_real_server", ["nginx", "apache"], indirect=True)
def test_low_stream_limit_queues_requests(start_real_server: WebServerFactory,
                                          ssl_context: ssl.SSLContext) -> None:
    """Past the server's SETTINGS_MAX_CONCURRENT_STREAMS, requests wait for a
    stream to close. (h2o always announces 100.)"""
    server = start_real_server.limited(max_concurrent_streams=2)
    with h2(server, ssl_context) as conn:
        conn.get_response(conn.request("GET", "/small.txt")).read()  # learn the limit
        results: dict[int, bytes] = {}

        def fetch(n: int) -> None:
            resp = conn.get_response(conn.request("GET", f"/app/token/t{n}"))
            results[n] = resp.read()

        threads = [threading.Thread(target=fetch, args=(n,)) for n in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results == {n: f"t{n}".encode() for n in range(12)}




@pytest.fixture(params=["nginx_max_requests_server", "h2_max_requests_server"])
def max_requests_server(request: pytest.FixtureRequest) -> Server:
    server: Server = request.getfixturevalue(request.param)
    return server


def test_more_requests_than_the_server_allows_per_connection(
        max_requests_server: Server, ssl_context: ssl.SSLContext) -> None:
    server = max_requests_server
    prefix = getattr(server, "app_prefix", "")  # nginx proxies the app under /app
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=TIMEOUT) as conn:
        # hypercorn still answers the request past its limit (then GOAWAY).
        for n in range(MAX_REQUESTS + 5):
            stream_id = conn.request("GET", f"{prefix}/token/r{n}")
            assert conn.get_response(stream_id).read() == f"r{n}".encode()
