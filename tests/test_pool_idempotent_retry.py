"""A request with an idempotent method whose connection fails before the
response head arrives is sent once more, on a new connection (RFC 9110
section 9.2.2); other methods, unreplayable bodies and a second failure are
not retried, and the switch turns it off. Scripted HTTP/1.1 peers (one
script per accepted connection, fed whole and byte by byte) and a scripted
HTTP/2 peer that ends the connection with streams in flight.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

import hyper.exceptions as hx
from h2peer import Harness, close, expect_request, handshake, respond, send_goaway
from hyper.common.settings import H2CMode
from hyper.contrib import HTTP20Adapter
from hyper.pool import IDEMPOTENT_METHODS, ConnectionPool, PoolKey
from hyper.pool._pool import may_retry_idempotent
from tcppeer import OK, body, hang_up, head, reply, reset

pytestmark = pytest.mark.timeout(60)

CUT = [head(), hang_up()]
ANSWER = [head(), reply(OK)]


def key_for(port: int, h2c: H2CMode = H2CMode.OFF) -> PoolKey:
    return PoolKey("http", "127.0.0.1", port, h2c=h2c)


@pytest.fixture
def pool() -> Iterator[ConnectionPool]:
    with ConnectionPool() as pool:
        yield pool


def test_the_idempotent_methods_are_rfc_9110s() -> None:
    assert frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) == IDEMPOTENT_METHODS
    assert may_retry_idempotent("get", hx.ConnectionClosed("x"))
    assert may_retry_idempotent("DELETE", hx.HTTP2ConnectionError("x"))
    assert not may_retry_idempotent("POST", hx.ConnectionClosed("x"))
    assert not may_retry_idempotent("PATCH", hx.ConnectionClosed("x"))
    # Not a failure of the connection: may well happen again.
    assert not may_retry_idempotent("GET", hx.ReadTimeout("x"))
    assert not may_retry_idempotent("GET", hx.StreamResetError("x"))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_cut_connection_costs_an_idempotent_request_nothing(
    method: str, tcp_peers: Any, pool: ConnectionPool,
) -> None:
    upload = method == "PUT"
    peer = tcp_peers(CUT, [head(), body(), reply(OK)] if upload else ANSWER)
    response = pool.request(key_for(peer.port), method, "/x", b"body" if upload else None)
    assert (response.status, response.read()) == (200, b"hello")
    assert peer.connections == 2
    assert [h.split(b" ", 1)[0] for h in peer.heads] == [method.encode()] * 2
    if upload:
        assert peer.bodies == [b"body"]


def test_reset_connection_is_retried_too(tcp_peers: Any, pool: ConnectionPool) -> None:
    peer = tcp_peers([head(), reset()], ANSWER)
    assert pool.request(key_for(peer.port), "GET", "/").read() == b"hello"
    assert peer.connections == 2


def test_non_idempotent_method_is_not_retried(tcp_peers: Any, pool: ConnectionPool) -> None:
    peer = tcp_peers(CUT)
    with pytest.raises(hx.ConnectionClosed):
        pool.request(key_for(peer.port), "POST", "/", b"data")
    assert peer.connections == 1


def test_unreplayable_body_is_not_retried(tcp_peers: Any, pool: ConnectionPool) -> None:
    peer = tcp_peers(CUT)
    with pytest.raises(hx.ConnectionClosed):
        pool.request(key_for(peer.port), "PUT", "/", iter([b"a", b"b"]))
    assert peer.connections == 1


def test_retried_once_only(tcp_peers: Any, pool: ConnectionPool) -> None:
    peer = tcp_peers(CUT, CUT)
    with pytest.raises(hx.ConnectionClosed):
        pool.request(key_for(peer.port), "GET", "/")
    assert peer.connections == 2


def test_switched_off(tcp_peers: Any) -> None:
    peer = tcp_peers(CUT)
    with ConnectionPool(retry_idempotent=False) as pool, pytest.raises(hx.ConnectionClosed):
        pool.request(key_for(peer.port), "GET", "/")
    assert peer.connections == 1


def test_a_retry_that_cannot_connect_raises_the_requests_own_failure(
    tcp_peers: Any, pool: ConnectionPool,
) -> None:
    # One script: the peer stops listening after it, so the retry is refused.
    peer = tcp_peers(CUT)
    with pytest.raises(hx.ConnectionClosed) as raised:
        pool.request(key_for(peer.port), "GET", "/")
    assert isinstance(raised.value.__context__, hx.ConnectError)


def test_through_the_adapter_with_no_retries_configured(tcp_peers: Any) -> None:
    """max_retries=0 (requests' default) still gets the pool's one retry:
    the server never answered, so requests' caller sees nothing of it."""
    peer = tcp_peers(CUT, ANSWER)
    with requests.Session() as session:
        session.mount("http://", HTTP20Adapter(h2c="off"))
        assert session.get(f"http://127.0.0.1:{peer.port}/", timeout=5).text == "hello"
    assert peer.connections == 2
    peer = tcp_peers(CUT)
    with requests.Session() as session:
        session.mount("http://", HTTP20Adapter(h2c="off", retry_idempotent=False))
        with pytest.raises(requests.ConnectionError):
            session.get(f"http://127.0.0.1:{peer.port}/", timeout=5)


@pytest.fixture
def peers() -> Iterator[Harness]:
    harness = Harness("whole")
    yield harness
    harness.teardown()


def test_http2_connection_cut_with_streams_in_flight(peers: Harness) -> None:
    """A GOAWAY that claims the stream (last_stream_id at or above it) and
    a closed connection: the stream may have been processed, so only an
    idempotent request is sent again."""
    first = peers.start([handshake(), expect_request("r"), send_goaway("r"), close()])
    second = peers.start([handshake(), expect_request("r"), respond("r", b"second")])
    ports = iter([first.port, second.port])

    from hyper.pool import default_connection_factory

    def factory(key: PoolKey, context: Any, config: Any) -> Any:
        return default_connection_factory(key_for(next(ports), H2CMode.PRIOR_KNOWLEDGE),
                                          context, config)

    with ConnectionPool(connection_factory=factory) as pool:
        response = pool.request(key_for(1, H2CMode.PRIOR_KNOWLEDGE), "GET", "/")
        assert response.read() == b"second"
    peers.finish()
