"""CONNECT proxies that misbehave (scripted TCP peers relaying to a real
HTTP/2 server): interim answers, answers that open no tunnel, more bytes
than the answer, a close instead of an answer, silence.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any

import pytest

from hyper import HTTP20Connection
from hyper.exceptions import (
    ConnectTimeout,
    ProxyError,
)
from tcppeer import (
    Peers,
    TcpPeer,
    fin,
    head,
    relay,
    reply,
    reset,
    wait,
)

pytestmark = pytest.mark.timeout(60)


def through_proxy(peer: TcpPeer, target: Any, ssl_context: ssl.SSLContext,
                  timeout: Any = 5) -> HTTP20Connection:
    return HTTP20Connection(target.host, target.port, secure=True, ssl_context=ssl_context,
                            proxy_host="127.0.0.1", proxy_port=peer.port, timeout=timeout)


def test_interim_answers_before_the_tunnel(tcp_peers: Peers, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    peer = tcp_peers([head(), reply(b"HTTP/1.1 100 Continue\r\n\r\n"
                               b"HTTP/1.1 200 Connection established\r\n\r\n"),
                  relay(h2_server.host, h2_server.port)])
    with through_proxy(peer, h2_server, ssl_context) as conn:
        assert conn.get_response(conn.request("GET", "/token/tunnel")).read() == b"tunnel"
    peer.join()
    assert peer.heads[0].startswith(f"CONNECT {h2_server.host}:{h2_server.port} ".encode())


@pytest.mark.parametrize(("answer", "error", "message"), [
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", ProxyError, "refused the tunnel"),
    (b"SSH-2.0-OpenSSH\r\n\r\n", ProxyError, "not valid HTTP/1.1"),
])
def test_proxy_answers_that_open_no_tunnel(
    tcp_peers: Peers, h2_server: Any, ssl_context: ssl.SSLContext, answer: bytes,
    error: type[Exception], message: str,
) -> None:
    peer = tcp_peers([head(), reply(answer, tolerate_close=True)])
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(error, match=message):
        conn.request("GET", "/")
    conn.close()


def test_proxy_sending_more_than_its_answer(h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    """Bytes after the 2xx answer, before our ClientHello, can't be the TLS
    server's. (Sent in one piece: bytes arriving after the answer was read
    would be taken for the server's, and fail the handshake instead.)"""
    peer = TcpPeer([head(), reply(b"HTTP/1.1 200 OK\r\n\r\n\x16\x03\x01")], feed="whole")
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError, match="unexpected data"):
        conn.request("GET", "/")
    peer.join()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_proxy_closes_instead_of_answering(
    tcp_peers: Peers, h2_server: Any, ssl_context: ssl.SSLContext, how: str
) -> None:
    peer = tcp_peers([head(), fin() if how == "fin" else reset()])
    conn = through_proxy(peer, h2_server, ssl_context)
    with pytest.raises(ProxyError) as info:
        conn.request("GET", "/")
    assert not info.value.retry_safe
    conn.close()


def test_silent_proxy_is_a_connect_timeout(tcp_peers: Peers, h2_server: Any,
                                           ssl_context: ssl.SSLContext) -> None:
    release = threading.Event()
    peer = tcp_peers([head(), wait(release)])
    conn = through_proxy(peer, h2_server, ssl_context, timeout=(0.5, 5))
    with pytest.raises(ConnectTimeout, match="CONNECT answer") as info:
        conn.request("GET", "/")
    assert info.value.retry_safe
    release.set()
    conn.close()
