"""hyper.pool.ConnectionPool against real servers on loopback.

hypercorn serves HTTP/2 over TLS, h2c and HTTP/1.1; nginx sends GOAWAY
after ``keepalive_requests``; the stdlib server speaks HTTP/1.1 only.
Connections are counted through the pool's ``connection_factory``.
"""

from __future__ import annotations

import gc
import io
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import payload
from concurrency import run_threads
from hyper.common.timeouts import TimeoutConfig
from hyper.common.transport import wait_readable
from hyper.exceptions import PoolTimeout
from hyper.pool import (
    ConnectionPool,
    EntryState,
    H2CMode,
    PoolConnection,
    PoolKey,
    TLSSettings,
    default_connection_factory,
)
from servers import Certs, Server

pytestmark = pytest.mark.timeout(90)

TIMEOUT = (10.0, 20.0)


class CountingFactory:
    """The default connection factory, remembering every connection made."""

    def __init__(self) -> None:
        self.made: list[PoolConnection] = []
        self._lock = threading.Lock()

    def __call__(self, key: PoolKey, context: Any, config: TimeoutConfig) -> PoolConnection:
        conn = default_connection_factory(key, context, config)
        with self._lock:
            self.made.append(conn)
        return conn

    @property
    def count(self) -> int:
        return len(self.made)


@pytest.fixture
def factory() -> CountingFactory:
    return CountingFactory()


@pytest.fixture
def make_pool(factory: CountingFactory) -> Iterator[Callable[..., ConnectionPool]]:
    pools: list[ConnectionPool] = []

    def make(**kwargs: Any) -> ConnectionPool:
        kwargs.setdefault("connection_factory", factory)
        pool = ConnectionPool(**kwargs)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


def key_for(server: Server, certs: Certs, h2c: str = "upgrade") -> PoolKey:
    tls = TLSSettings(verify=str(certs.ca_path)) if server.scheme == "https" else None
    return PoolKey.for_url(server.url, tls=tls, h2c=h2c)


def get(pool: ConnectionPool, key: PoolKey, path: str, **kwargs: Any) -> tuple[int, bytes]:
    response = pool.request(key, "GET", path, timeout=TIMEOUT, **kwargs)
    return response.status, response.read()


# -- one HTTP/2 connection for many threads ---------------------------------------------


def test_http2_threads_share_one_connection(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool()
    key = key_for(h2_server, certs)

    def work(i: int) -> None:
        for j in range(10):
            status, body = get(pool, key, f"/token/t{i}-{j}")
            assert (status, body) == (200, f"t{i}-{j}".encode())

    run_threads(12, work)
    assert factory.count == 1
    assert factory.made[0].version == 20
    assert pool.connection_states(key) == [EntryState.IDLE]


SERVERS = {
    "h2": ("h2_server", "upgrade", 20),
    "h2-http11-by-alpn": ("h1_tls_server", "upgrade", 11),
    "h2c-prior-knowledge": ("h2c_server", "prior-knowledge", 20),
    "h2c-upgrade": ("h2c_server", "upgrade", 20),
    "h2c-off": ("h2c_server", "off", 11),
    "http11-plaintext": ("h1_server", "upgrade", 11),
}


@pytest.mark.parametrize("name", list(SERVERS))
def test_no_request_lost_or_mismatched_under_concurrency(
    name: str, request: pytest.FixtureRequest, certs: Certs,
    make_pool: Callable[..., ConnectionPool], factory: CountingFactory,
) -> None:
    """Many threads, one pool: every response belongs to its own request."""
    fixture, h2c, version = SERVERS[name]
    server: Server = request.getfixturevalue(fixture)
    pool = make_pool(maxsize=4)
    key = key_for(server, certs, h2c)
    answered: list[str] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        for j in range(15):
            token = f"{name}-{i}-{j}"
            # The first request on a connection has no body: h2c upgrades
            # are only tried on such requests.
            if j % 3 == 1:
                body = f"body of {token}".encode() * (j + 1)
                response = pool.request(key, "POST", "/echo", body, timeout=TIMEOUT)
                assert response.read() == body, token
            else:
                response = pool.request(key, "GET", f"/token/{token}", timeout=TIMEOUT)
                assert response.headers.get(b"x-token") == [token.encode()], token
                assert response.read() == token.encode(), token
            with lock:
                answered.append(token)

    run_threads(8, work)
    assert len(answered) == len(set(answered)) == 8 * 15
    # (Closed connections forget their version: None.) A connection opened
    # for a request with a body stays HTTP/1.1 under h2c upgrade.
    assert version in {conn.version for conn in factory.made}
    if version == 11:
        # Never more connections than requests at once; surplus ones closed.
        assert factory.count <= 8
        assert len(pool.connection_states(key)) <= 4


def test_low_stream_limit_fifty_concurrent_requests_complete(
    start_hypercorn: Any, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    server = start_hypercorn(True, h2_max_concurrent_streams=2)
    pool = make_pool()
    key = key_for(server, certs)
    # The server's SETTINGS are known once one exchange is done.
    assert get(pool, key, "/get")[0] == 200
    results: dict[int, tuple[int, bytes]] = {}
    # The server answers none of them before all 50 have arrived (or 504
    # after 10 s): a request left waiting for a stream slot fails them all.
    group = uuid.uuid4().hex

    def work(i: int) -> None:
        response = pool.request(key, "GET", f"/gather/{group}/50?n={i}", timeout=TIMEOUT)
        results[i] = (response.status, response.read())

    run_threads(50, work)
    assert sorted(results) == list(range(50))
    for i, (status, body) in results.items():
        assert status == 200, body
        assert f'"query": "n={i}"'.encode() in body
    # Two streams per connection: 50 requests at once need 25 connections.
    assert factory.count >= 25
    assert {conn.version for conn in factory.made} - {None} == {20}


def test_every_request_succeeds_when_the_server_sends_goaway_after_n_requests(
    start_nginx: Any, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    nginx = start_nginx("keepalive_requests 5;")
    pool = make_pool()
    key = key_for(nginx, certs)
    for i in range(23):
        status, body = get(pool, key, f"/app/token/seq{i}")
        assert (status, body) == (200, f"seq{i}".encode())
    # 5 requests per connection.
    assert factory.count == 5
    before = factory.count

    def work(i: int) -> None:
        for j in range(10):
            token = f"par{i}-{j}"
            if j % 2:
                response = pool.request(key, "POST", "/app/echo", token.encode(),
                                        timeout=TIMEOUT)
            else:
                response = pool.request(key, "GET", f"/app/token/{token}", timeout=TIMEOUT)
            assert response.read() == token.encode()

    run_threads(8, work)
    assert factory.count - before >= 80 // 5
    assert {conn.version for conn in factory.made} - {None} == {20}


# -- dead and idle connections --------------------------------------------------------------


@pytest.mark.parametrize("tls", [True, False], ids=["h2", "http11"])
def test_connection_closed_by_the_server_is_noticed_before_reuse(
    tls: bool, start_hypercorn: Any, certs: Certs, make_pool: Callable[..., ConnectionPool],
) -> None:
    # hypercorn's idle timer also runs on a new connection before its first
    # request: 2 s leaves a loaded machine room to send that request.
    server = start_hypercorn(tls, keep_alive_timeout=2)
    pool = make_pool(idle_timeout=None)
    key = key_for(server, certs, h2c="off")
    assert get(pool, key, "/token/first") == (200, b"first")
    (conn,) = pool.connections(key)
    # The server closes the idle connection after 2 s: wait (bounded) until
    # its GOAWAY or FIN is there to read, without reading it.
    protocol_conn = conn.connection  # type: ignore[attr-defined]
    assert wait_readable(protocol_conn._sock, 10)
    assert get(pool, key, "/token/second") == (200, b"second")
    if tls:
        # HTTP/2: the old connection is gone and a new one served.
        assert pool.connections(key) != [conn]
    assert len(pool.connections(key)) == 1


def test_idle_connections_close_after_the_idle_timeout(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool(idle_timeout=0.2)
    key = key_for(h2_server, certs)
    assert get(pool, key, "/get")[0] == 200
    # The reaper takes the entry out under the lock and closes it after:
    # wait (bounded) for both.
    def reaped() -> bool:
        closed = factory.made[0].connection is None  # type: ignore[attr-defined]
        return closed and pool.connection_states(key) == []

    deadline = time.monotonic() + 10
    while not reaped() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pool.connection_states(key) == []
    # Closed: the HTTPConnection has let its protocol connection go.
    assert factory.made[0].connection is None  # type: ignore[attr-defined]
    assert get(pool, key, "/get")[0] == 200
    assert factory.count == 2


def test_a_pool_dropped_without_close_closes_its_connections(
    h2_server: Server, certs: Certs, factory: CountingFactory,
) -> None:
    """The reaper thread does not keep a forgotten pool (a requests Session
    never closed) alive: once the pool is collected, the reaper closes what
    it held and ends."""
    pool = ConnectionPool(idle_timeout=60.0, connection_factory=factory)
    key = key_for(h2_server, certs)
    assert get(pool, key, "/get")[0] == 200
    (reaper,) = [t for t in threading.enumerate() if t.name == "hyper-pool-reaper"
                 and t is pool._reaper]
    del pool
    gc.collect()
    reaper.join(10)
    assert not reaper.is_alive()
    # Closed: the HTTPConnection has let its protocol connection go.
    assert factory.made[0].connection is None  # type: ignore[attr-defined]


# -- HTTP/2 streams that do not disturb each other ---------------------------------------------


def test_closing_one_response_leaves_the_others_intact(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool()
    key = key_for(h2_server, certs)
    big = pool.request(key, "GET", f"/bytes/{4 * 1024 * 1024}", timeout=TIMEOUT)
    other = pool.request(key, "GET", f"/bytes/{1024 * 1024}", timeout=TIMEOUT)
    assert big.read(1000) == payload(1000)
    big.close()
    assert other.read() == payload(1024 * 1024)
    assert get(pool, key, "/token/after") == (200, b"after")
    assert factory.count == 1


def test_threads_read_different_streams_of_one_connection(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool()
    key = key_for(h2_server, certs)
    sizes = [1, 1000, 70_000, 300_000, 1024 * 1024, 2 * 1024 * 1024]

    def work(i: int) -> None:
        size = sizes[i % len(sizes)]
        response = pool.request(key, "GET", f"/stream/{size}", timeout=TIMEOUT)
        received = bytearray()
        while True:
            piece = response.read(7919 + i)
            if not piece:
                break
            received += piece
        assert bytes(received) == payload(size), size

    run_threads(12, work)
    assert factory.count == 1


def test_two_uploads_waiting_on_flow_control_at_once(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool()
    key = key_for(h2_server, certs)
    # Each far larger than the initial 64 KiB windows.
    bodies = [bytes([i]) * (2 * 1024 * 1024 + i) for i in range(4)]

    def work(i: int) -> None:
        response = pool.request(key, "POST", "/echo", bodies[i], timeout=TIMEOUT)
        assert response.read() == bodies[i]

    run_threads(4, work)
    assert factory.count == 1


# -- keep-alive and pool sizes for HTTP/1.1 --------------------------------------------------------


def test_http11_keep_alive_reuses_one_connection(
    h1_tls_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool()
    key = key_for(h1_tls_server, certs)
    for i in range(5):
        assert get(pool, key, f"/token/k{i}") == (200, f"k{i}".encode())
    assert factory.count == 1
    assert factory.made[0].version == 11


def test_http11_surplus_connections_close_once_released(
    h1_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool(maxsize=2)
    key = key_for(h1_server, certs)
    held = [pool.request(key, "GET", f"/token/h{i}", timeout=TIMEOUT) for i in range(5)]
    assert factory.count == 5
    for i, response in enumerate(held):
        assert response.read() == f"h{i}".encode()
    assert pool.connection_states(key) == [EntryState.IDLE, EntryState.IDLE]


def test_blocking_pool_waits_for_a_free_connection(
    h1_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
    factory: CountingFactory,
) -> None:
    pool = make_pool(maxsize=1, block=True, pool_timeout=0.5)
    key = key_for(h1_server, certs)
    held = pool.request(key, "GET", "/token/held", timeout=TIMEOUT)
    with pytest.raises(PoolTimeout):
        pool.request(key, "GET", "/token/blocked", timeout=TIMEOUT)
    got: list[bytes] = []
    waiter = threading.Thread(target=lambda: got.append(get(pool, key, "/token/waited")[1]))
    pool.pool_timeout = 20.0
    waiter.start()
    assert held.read() == b"held"
    waiter.join(30)
    assert got == [b"waited"]
    assert factory.count == 1


# -- closing the pool ---------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["h2_server", "h1_server"])
def test_close_leaves_responses_in_flight_readable(
    fixture: str, request: pytest.FixtureRequest, certs: Certs,
    make_pool: Callable[..., ConnectionPool], factory: CountingFactory,
) -> None:
    server: Server = request.getfixturevalue(fixture)
    pool = make_pool()
    key = key_for(server, certs)
    idle = pool.request(key, "GET", "/token/idle", timeout=TIMEOUT)
    assert idle.read() == b"idle"
    busy = pool.request(key, "GET", f"/bytes/{300_000}", timeout=TIMEOUT)
    pool.close()
    assert busy.read() == payload(300_000)
    assert pool.connection_states(key) == []
    # Still usable after close(), as requests' adapters are.
    assert get(pool, key, "/token/again") == (200, b"again")


def test_urlopen_builds_the_key_from_the_url(
    h2_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
) -> None:
    pool = make_pool()
    response = pool.urlopen("GET", h2_server.url + "/token/u#fragment",
                            tls=TLSSettings(verify=str(certs.ca_path)), timeout=TIMEOUT)
    assert (response.status, response.read(), response.version) == (200, b"u", 20)


def test_upload_of_a_file_and_of_a_generator(
    h2c_server: Server, certs: Certs, make_pool: Callable[..., ConnectionPool],
) -> None:
    pool = make_pool()
    key = key_for(h2c_server, certs, h2c=H2CMode.PRIOR_KNOWLEDGE.value)
    data = payload(200_000)
    response = pool.request(key, "POST", "/echo", io.BytesIO(data), timeout=TIMEOUT)
    assert response.read() == data
    chunks = (data[i:i + 10_000] for i in range(0, len(data), 10_000))
    response = pool.request(key, "POST", "/echo", chunks, timeout=TIMEOUT)
    assert response.read() == data
