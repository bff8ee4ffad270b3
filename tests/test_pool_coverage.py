"""The pool's less travelled paths: key and body validation, the TLS
context cache, responses dropped unread, waits that run out, bodies that
fail, and connections that fail their check or their close.

Servers are the session's loopback servers (hypercorn, the stdlib
HTTP/1.1 server) and, for a TLS handshake that never ends, a listening
socket that never accepts.
"""

from __future__ import annotations

import gc
import io
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import hyper.exceptions as hx
from hyper.common.settings import H2CMode
from hyper.common.timeouts import TimeoutConfig
from hyper.exceptions import ConnectionClosed, ConnectTimeout, InvalidURLError, PoolTimeout
from hyper.pool import (
    ConnectionPool,
    ContextCache,
    EntryState,
    PoolConnection,
    PoolKey,
    ProxySettings,
    TLSSettings,
    default_connection_factory,
)
from hyper.pool._replay import Replay
from servers import Certs, Server
from test_pool import CountingFactory, key_for

pytestmark = pytest.mark.timeout(60)

TIMEOUT = (10.0, 20.0)


# -- keys ---------------------------------------------------------------------------------


def test_only_http_proxies_are_accepted() -> None:
    with pytest.raises(InvalidURLError, match="Only http:// proxies"):
        ProxySettings.from_url("https://127.0.0.1:3128")
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


# -- bodies that can or cannot be sent again ------------------------------------------------


class Tape:
    """A readable, seekable body without ``seekable()`` (duck-typed files)."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, amt: int = -1) -> bytes:
        end = len(self._data) if amt < 0 else self._pos + amt
        chunk, self._pos = self._data[self._pos:end], min(end, len(self._data))
        return chunk

    def seek(self, pos: int) -> int:
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos


class TapeWithoutPosition(Tape):
    def tell(self) -> int:
        raise OSError("position unknown")


def test_file_without_seekable_method_is_rewound_to_its_start() -> None:
    body = Tape(b"abcdef")
    body.seek(2)
    replay = Replay(body)
    assert replay.replayable
    assert body.read() == b"cdef"
    assert replay.rewind()
    assert body.read() == b"cdef"


def test_file_whose_position_cannot_be_told_is_not_sent_again() -> None:
    replay = Replay(TapeWithoutPosition(b"abc"))
    assert not replay.replayable
    assert not replay.rewind()


def test_file_closed_before_the_retry_is_not_sent_again() -> None:
    body = io.BytesIO(b"abc")
    replay = Replay(body)
    assert replay.replayable
    body.close()
    assert not replay.rewind()


def test_closed_file_and_pipe_are_not_replayable() -> None:
    closed = io.BytesIO(b"abc")
    closed.close()  # its seekable() raises ValueError
    assert not Replay(closed).replayable
    read_fd, write_fd = os.pipe()
    with open(read_fd, "rb") as pipe, open(write_fd, "wb"):
        assert not Replay(pipe).replayable


# -- TLS contexts -----------------------------------------------------------------------------


def test_context_cache_makes_one_context_per_settings_until_cleared(certs: Certs) -> None:
    cache = ContextCache()
    settings = TLSSettings(verify=str(certs.ca_path))
    first = cache.get(settings)
    assert cache.get(TLSSettings(verify=str(certs.ca_path))) is first
    assert cache.get(TLSSettings(verify=False)) is not first
    cache.clear()
    # Made again: a CA file changed on disk is read anew.
    assert cache.get(settings) is not first


# -- the pool's own arguments and life cycle ------------------------------------------------------


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


# -- a response dropped unread ------------------------------------------------------------------


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


# -- waiting for a connection another request is opening -------------------------------------------


@pytest.fixture
def silent_tls_port() -> Iterator[int]:
    """A port that completes TCP handshakes (the kernel's backlog) but whose
    server never accepts, so a TLS handshake never gets an answer."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        yield listener.getsockname()[1]


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


# -- a request body that fails while it is sent --------------------------------------------------


def failing_body() -> Iterator[bytes]:
    yield b"a" * 1000
    raise RuntimeError("the body's source failed")


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


# -- connections that fail their check or their close ---------------------------------------


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
