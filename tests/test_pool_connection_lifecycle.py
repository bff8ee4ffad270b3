"""The pool's connections from opening to closing: its arguments, the with
block, responses dropped unread, bounded waits for a connection being
opened, bodies that fail while sent, and connections that fail their check
or their close. Against the session's loopback servers and, for a TLS
handshake that never ends, a listening socket that never accepts.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import hyper.exceptions as hx
from hyper.common.settings import H2CMode
from hyper.common.timeouts import TimeoutConfig
from hyper.exceptions import ConnectionClosed, ConnectTimeout, PoolTimeout
from hyper.pool import (
    ConnectionPool,
    EntryState,
    PoolConnection,
    PoolKey,
    TLSSettings,
    default_connection_factory,
)
from servers import Certs, Server
from test_pool import CountingFactory, key_for

pytestmark = pytest.mark.timeout(60)


TIMEOUT = (10.0, 20.0)


@pytest.fixture
def silent_tls_port() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) but whose
    server never accepts, so a TLS handshake never gets an answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]


def failing_body() -> Iterator[bytes]:
    yield b"a" * 1000
    raise RuntimeError("the body's source failed")


class Misbehaving:
    """A real pooled connection whose ``check_alive()`` raises and whose
    ``close()`` raises after closing: what a third-party connection class
    given through ``connection_factory`` might do. The pool must stay
    consistent."""

    def __init__(self, inner: PoolConnection) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def version(self) -> int | None:
        return self.inner.version

    def check_alive(self) -> bool:
        raise ConnectionClosed("the check failed")

    def close(self) -> None:
        self.inner.close()
        raise OSError("close failed after closing")


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        ConnectionPool(retries=-1)
    with pytest.raises(ValueError, match="must not be negative"):
        ConnectionPool(connect_retries=-1)


def test_leaving_the_with_block_closes_the_connections(
    h1_server: Server, certs: Certs,
) -> None:
    factory = CountingFactory()
    key = key_for(h1_server, certs)
    with ConnectionPool(connection_factory=factory) as pool:
        assert pool.request(key, "GET", "/token/w", timeout=TIMEOUT).read() == b"w"
        assert pool.connection_states(key) == [EntryState.IDLE]
    assert pool.connection_states(key) == []
    assert factory.made[0].connection is None  # type: ignore[attr-defined]


def test_response_dropped_unread_gives_its_connection_back(
    h1_server: Server, certs: Certs,
) -> None:
    """The lease of a garbage-collected response is released by the next
    request (any key); its HTTP/1.1 connection, in an unknown state, is
    closed. Here that next request then waits in a full blocking pool."""
    factory = CountingFactory()
    pool = ConnectionPool(connection_factory=factory, maxsize=1, block=True, pool_timeout=0.2)
    dropped_key = key_for(h1_server, certs, h2c="upgrade")
    full_key = key_for(h1_server, certs, h2c="off")
    try:
        held = pool.request(full_key, "GET", "/token/held", timeout=TIMEOUT)
        dropped = pool.request(dropped_key, "GET", "/token/dropped", timeout=TIMEOUT)
        del dropped
        gc.collect()
        assert pool.connection_states(dropped_key) == [EntryState.ACTIVE]
        with pytest.raises(PoolTimeout):
            pool.request(full_key, "GET", "/token/blocked", timeout=TIMEOUT)
        assert pool.connection_states(dropped_key) == []
        assert factory.made[1].connection is None  # type: ignore[attr-defined]
        assert held.read() == b"held"
        assert pool.request(full_key, "GET", "/token/next", timeout=TIMEOUT).read() == b"next"
    finally:
        pool.close()


def test_wait_for_a_connection_being_opened_is_bounded(silent_tls_port: int) -> None:
    pool = ConnectionPool(pool_timeout=0.2)
    key = PoolKey.for_url(f"https://127.0.0.1:{silent_tls_port}/")
    opener_error: list[BaseException] = []

    def open_it() -> None:
        try:
            pool.request(key, "GET", "/", timeout=(3.0, 3.0))
        except BaseException as exc:
            opener_error.append(exc)

    opener = threading.Thread(target=open_it, daemon=True)
    opener.start()
    try:
        deadline = time.monotonic() + 10
        while pool.connection_states(key) != [EntryState.CONNECTING]:
            assert time.monotonic() < deadline, pool.connection_states(key)
            time.sleep(0.01)
        # TLS may negotiate HTTP/2: this request waits to share it, not longer
        # than pool_timeout.
        with pytest.raises(ConnectTimeout, match="another request is opening"):
            pool.request(key, "GET", "/", timeout=(3.0, 3.0))
    finally:
        opener.join(30)
        pool.close()
    assert not opener.is_alive()
    assert len(opener_error) == 1 and isinstance(opener_error[0], ConnectTimeout)
    assert pool.connection_states(key) == []


def test_failing_body_over_http11_retires_the_connection(
    h1_server: Server, certs: Certs,
) -> None:
    factory = CountingFactory()
    key = key_for(h1_server, certs)
    with ConnectionPool(connection_factory=factory) as pool:
        with pytest.raises(RuntimeError, match="source failed"):
            pool.request(key, "POST", "/echo", failing_body(), timeout=TIMEOUT)
        # Half a request went out: that connection cannot carry another.
        assert pool.connection_states(key) == []
        assert pool.request(key, "GET", "/token/after", timeout=TIMEOUT).read() == b"after"
        assert factory.count == 2


def test_failing_body_over_http2_keeps_the_connection(
    h2c_server: Server, certs: Certs,
) -> None:
    factory = CountingFactory()
    key = key_for(h2c_server, certs, h2c="prior-knowledge")
    with ConnectionPool(connection_factory=factory) as pool:
        with pytest.raises(RuntimeError, match="source failed"):
            pool.request(key, "POST", "/echo", failing_body(), timeout=TIMEOUT)
        assert pool.connection_states(key) == [EntryState.IDLE]
        assert pool.request(key, "GET", "/token/after", timeout=TIMEOUT).read() == b"after"
        assert factory.count == 1


def test_failing_body_over_http2_frees_its_stream_slot(
    start_hypercorn: Any, certs: Certs,
) -> None:
    server = start_hypercorn(False, h2_max_concurrent_streams=1)
    factory = CountingFactory()
    key = key_for(server, certs, h2c="prior-knowledge")
    with ConnectionPool(connection_factory=factory) as pool:
        assert pool.request(key, "GET", "/token/first", timeout=TIMEOUT).read() == b"first"
        with pytest.raises(RuntimeError, match="source failed"):
            pool.request(key, "POST", "/echo", failing_body(), timeout=TIMEOUT)
        assert factory.made[0].stream_capacity() == 1
        assert pool.request(key, "GET", "/token/after", timeout=TIMEOUT).read() == b"after"
        assert factory.count == 1


def test_connection_failing_its_check_and_close_is_replaced(
    h1_server: Server, certs: Certs, caplog: pytest.LogCaptureFixture,
) -> None:
    made: list[Misbehaving] = []

    def factory(key: PoolKey, context: Any, config: TimeoutConfig) -> PoolConnection:
        conn = Misbehaving(default_connection_factory(key, context, config))
        made.append(conn)
        return conn  # type: ignore[return-value]

    key = key_for(h1_server, certs)
    pool = ConnectionPool(connection_factory=factory)
    with caplog.at_level(logging.DEBUG, logger="hyper"):
        assert pool.request(key, "GET", "/token/one", timeout=TIMEOUT).read() == b"one"
        assert pool.request(key, "GET", "/token/two", timeout=TIMEOUT).read() == b"two"
        assert len(made) == 2
        # The first was closed for all its complaining, and out of the pool.
        assert made[0].inner.connection is None  # type: ignore[attr-defined]
        assert pool.connections(key) == [made[1]]
        pool.close()
    assert pool.connections(key) == []
    messages = [record.getMessage() for record in caplog.records]
    assert "Pooled connection failed its check: the check failed" in messages
    close_failed = "Error while closing a pooled connection: close failed after closing"
    assert messages.count(close_failed) == 2


def test_connect_retries_count_attempts() -> None:
    attempts: list[int] = []

    def factory(key: PoolKey, context: Any, config: Any) -> Any:
        attempts.append(key.port)
        return default_connection_factory(key, context, config)

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with ConnectionPool(connect_retries=2, connection_factory=factory) as pool, \
                pytest.raises(hx.ConnectError):
            pool.request(PoolKey("http", "127.0.0.1", port, h2c=H2CMode.OFF), "GET", "/")
    assert attempts == [port] * 3


def test_a_non_hyper_error_while_connecting_leaves_the_pool_clean() -> None:
    class Broken:
        version = None

        def connect(self) -> None:
            raise RuntimeError("boom")

        def close(self) -> None:
            """Nothing is open."""

    key = PoolKey("https", "127.0.0.1", 9, TLSSettings())
    with ConnectionPool(connection_factory=lambda *_: Broken()) as pool:  # type: ignore[arg-type,return-value]
        with pytest.raises(RuntimeError, match="boom"):
            pool.request(key, "GET", "/")
        assert pool.connection_states(key) == []


@pytest.mark.parametrize(("url", "message"), [
    ("http://h.invalid:99999/", "Invalid port"),
    ("http:///path", "No host"),
])
def test_bad_urls_are_invalid_url_errors(url: str, message: str) -> None:
    with pytest.raises(hx.InvalidURLError, match=message):
        PoolKey.for_url(url)
