"""The core connections against Debian's nghttpd and through tinyproxy.

nginx, Apache httpd and h2o: tests/test_interop_web_servers.py.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import pytest

from hyper import HTTP20Connection, HTTPConnection


def h2(server: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> HTTP20Connection:
    return HTTP20Connection(server.host, server.port, secure=True, ssl_context=ssl_context,
                            timeout=15, **kwargs)


def static(server: Any, name: str) -> bytes:
    return (Path(server.htdocs) / name).read_bytes()


# -- nghttpd -----------------------------------------------------------------------


def test_nghttpd_static_files_multiplexed(nghttpd_server: Any,
                                          ssl_context: ssl.SSLContext) -> None:
    with h2(nghttpd_server, ssl_context) as conn:
        ids = {name: conn.request("GET", f"/{name}")
               for name in ("small.txt", "big.bin", "index.html")}
        for name, stream_id in reversed(list(ids.items())):
            resp = conn.get_response(stream_id)
            assert resp.status == 200
            assert resp.read() == static(nghttpd_server, name)


def test_nghttpd_echo_upload(nghttpd_server: Any, ssl_context: ssl.SSLContext) -> None:
    data = bytes(range(256)) * 8192  # 2 MiB: many windows' worth for nghttpd
    with h2(nghttpd_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("POST", "/", body=data))
        assert resp.read() == data


def test_nghttpd_push(nghttpd_server: Any, ssl_context: ssl.SSLContext) -> None:
    with h2(nghttpd_server, ssl_context, enable_push=True) as conn:
        stream_id = conn.request("GET", "/index.html")
        resp = conn.get_response(stream_id)
        assert resp.read() == static(nghttpd_server, "index.html")
        pushes = list(conn.get_pushes(stream_id, capture_all=True))
        assert [p.path for p in pushes] == [b"/pushed.css"]
        assert pushes[0].authority.startswith(b"localhost")
        assert pushes[0].get_response().read() == static(nghttpd_server, "pushed.css")


def test_nghttpd_negotiating_connection(nghttpd_server: Any,
                                        ssl_context: ssl.SSLContext) -> None:
    conn = HTTPConnection(nghttpd_server.host, nghttpd_server.port, secure=True,
                          ssl_context=ssl_context, timeout=15)
    with conn:
        stream_id = conn.request("GET", "/small.txt")
        assert stream_id == 1
        assert conn.get_response(stream_id).read() == static(nghttpd_server, "small.txt")


# -- proxies (tinyproxy) ---------------------------------------------------------------


def test_connect_tunnel_to_h2_server(tinyproxy_server: Any, h2_server: Any,
                                     ssl_context: ssl.SSLContext) -> None:
    conn = HTTPConnection(h2_server.host, h2_server.port, secure=True, ssl_context=ssl_context,
                          proxy_host=tinyproxy_server.host, proxy_port=tinyproxy_server.port,
                          timeout=15)
    with conn:
        stream_id = conn.request("GET", "/token/tunnelled")
        assert conn.negotiated_protocol == "h2"
        assert conn.get_response(stream_id).read() == b"tunnelled"


def test_plain_http_through_proxy_uses_absolute_form(tinyproxy_server: Any,
                                                     h2c_server: Any) -> None:
    conn = HTTPConnection(h2c_server.host, h2c_server.port, proxy_host=tinyproxy_server.host,
                          proxy_port=tinyproxy_server.port, timeout=15)
    with conn:
        assert conn.request("GET", "/get?via=proxy") is None
        body = json.loads(conn.get_response().read())
        assert body["query"] == "via=proxy"
        assert body["path"] == "/get"


def test_proxy_authorization(tinyproxy_auth_server: Any, h2_server: Any,
                             ssl_context: ssl.SSLContext) -> None:
    import base64

    from hyper.exceptions import ProxyError

    proxy = tinyproxy_auth_server
    kwargs = {"secure": True, "ssl_context": ssl_context, "proxy_host": proxy.host,
                  "proxy_port": proxy.port, "timeout": 15}
    with pytest.raises(ProxyError) as info:
        HTTPConnection(h2_server.host, h2_server.port, **kwargs).request("GET", "/")
    assert info.value.error_code == 407
    creds = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
    conn = HTTPConnection(h2_server.host, h2_server.port,
                          proxy_headers={"Proxy-Authorization": f"Basic {creds}"}, **kwargs)
    with conn:
        assert conn.get_response(conn.request("GET", "/token/authed")).read() == b"authed"
