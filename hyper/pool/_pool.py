"""ConnectionPool: the I/O shell around :class:`PoolState`.

Theory of operation
-------------------
``request()`` asks :class:`PoolState` (under ``_lock``) for a decision and
then does the I/O the decision calls for with the lock released: connect a
new connection, check an idle one, or send on a shared or reused one. Each
outcome is reported back under the lock, and every change wakes the
threads waiting in :meth:`_acquire`. Connections the state retires are
closed outside the lock too.

A request that fails with an error whose ``retry_safe`` is True (the
server certainly did not process it: GOAWAY's ``last_stream_id`` below its
stream, or REFUSED_STREAM) is sent again, on a new connection, when its
body can be sent again; at most ``retries`` times. So is an idempotent
request whose connection broke after a graceful GOAWAY (the connection's
``may_send_again`` decides, RFC 9110 section 9.2.2). Connection failures
(refused, connect timeout) are retried ``connect_retries`` times.

A request with an idempotent method whose connection failed (closed,
reset, or ended by an HTTP/2 connection error) before its response head
arrived is sent once more on a new connection (``retry_idempotent``):
RFC 9110 section 9.2.2, "a client SHOULD NOT automatically retry a
request with a non-idempotent method unless it has some means to know that
the request semantics are actually idempotent", and section 9.2.2 allows
it for idempotent ones "if the underlying connection closed before the
response was received". So a server that cuts in-flight requests when it
reaches its per-connection request limit costs the caller nothing.

Connections idle for ``idle_timeout`` seconds are closed by a small reaper
thread, which runs only while some connection is idle.
"""

from __future__ import annotations

import logging
import ssl
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, Protocol, cast

from ..common.body import BodyArg
from ..common.response import BaseResponse
from ..common.timeouts import Deadline, TimeoutArg, TimeoutConfig
from ..common.util import HeadersArg
from ..connection import HTTPConnection
from ..exceptions import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    HTTP2ConnectionError,
    HyperError,
    PoolTimeout,
    ProxyUnreachableError,
)
from ..http20.window import BaseFlowControlManager
from ._contexts import ContextCache, proxy_config_for
from ._key import PoolKey, request_target
from ._replay import Replay
from ._state import Check, Connect, EntryState, Lease, PoolState, Use, Wait, WaitReason

log = logging.getLogger("hyper")

#: How often a thread waiting for a free connection looks again even if no
#: one told it: an HTTP/2 stream slot frees when the server ends a stream,
#: which the pool hears of only when the response is released.
_POLL_INTERVAL = 0.25


class PoolConnection(Protocol):
    """The connection interface the pool uses (``hyper.HTTPConnection``'s)."""

    @property
    def version(self) -> int | None: ...

    def connect(self) -> None: ...

    def request(
        self,
        method: str,
        url: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
    ) -> int | None: ...

    def get_response(self, stream_id: int | None = None) -> BaseResponse: ...

    def stream_capacity(self) -> int: ...

    def is_usable(self) -> bool: ...

    def check_alive(self) -> bool: ...

    def may_send_again(self, method: str, exc: HyperError) -> bool: ...

    def close(self) -> None: ...


#: RFC 9110 section 9.2.2: the methods defined idempotent.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})

#: Failures of the connection itself (not of one stream, nor a timeout,
#: which may well repeat): what ``retry_idempotent`` retries.
_CONNECTION_FAILURES = (ConnectionClosed, HTTP2ConnectionError)


def may_retry_idempotent(method: str, exc: HyperError) -> bool:
    """Whether a failed request may be sent once more by ``retry_idempotent``."""
    return method.upper() in IDEMPOTENT_METHODS and isinstance(exc, _CONNECTION_FAILURES)


#: Makes the connection for a key: ``factory(key, ssl_context, timeout)``.
ConnectionFactory = Callable[[PoolKey, "ssl.SSLContext | None", TimeoutConfig], PoolConnection]


class ConnectionPool:
    """A thread-safe pool of HTTP/2 and HTTP/1.1 connections, keyed by origin.

    One HTTP/2 connection per key carries concurrent requests from any
    number of threads; another opens only when its stream limit is reached
    or it is going away. HTTP/1.1 connections serve one request at a time
    and are kept alive between requests.

    :param maxsize: connections kept per key once idle (like
        ``pool_maxsize``); with ``block`` also the most open at once.
    :param block: wait for a free connection instead of opening more than
        ``maxsize`` (like ``pool_block``).
    :param max_keys: keys (origins) kept (like ``pool_connections``).
    :param idle_timeout: close connections idle for this many seconds
        (None: keep them until the server closes them).
    :param pool_timeout: the longest wait for a connection (``block``, or
        a connection being opened by another request); None: the request's
        connect timeout.
    :param retries: how often a request the server did not process is sent
        again.
    :param connect_retries: how often a failed connection attempt is retried.
    :param retry_idempotent: send a request with an idempotent method once
        more, on a new connection, when its connection failed before the
        response head arrived.
    :param window_manager: the HTTP/2 flow-control manager class.
    :param max_headers: HTTP/1.1: the most header fields a response head may
        have (None: 100, as http.client).
    :param connection_factory: makes connections (tests and embedders);
        the default makes :class:`hyper.HTTPConnection` objects.
    """

    def __init__(
        self,
        *,
        maxsize: int = 10,
        block: bool = False,
        max_keys: int = 10,
        idle_timeout: float | None = 60.0,
        pool_timeout: float | None = None,
        retries: int = 3,
        connect_retries: int = 0,
        retry_idempotent: bool = True,
        window_manager: type[BaseFlowControlManager] | None = None,
        max_headers: float | None = None,
        connection_factory: ConnectionFactory | None = None,
    ) -> None:
        if retries < 0 or connect_retries < 0:
            raise ValueError("retries and connect_retries must not be negative")
        self._state: PoolState[PoolConnection] = PoolState(
            maxsize=maxsize, block=block, max_keys=max_keys, idle_timeout=idle_timeout)
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self.pool_timeout = pool_timeout
        self.retries = retries
        self.connect_retries = connect_retries
        self.retry_idempotent = retry_idempotent
        self.window_manager = window_manager
        self._factory: ConnectionFactory = connection_factory or partial(
            default_connection_factory, window_manager=window_manager, max_headers=max_headers)
        self._contexts = ContextCache()
        self._reaper: threading.Thread | None = None
        self._reaper_wake = threading.Event()
        # Leases of responses garbage-collected unreleased. A finalizer may
        # run at any allocation, even in a thread holding ``_lock``, so it
        # only queues the lease; the next locked section releases it.
        self._lost: deque[Lease[PoolConnection]] = deque()

    # -- public API -------------------------------------------------------------

    def request(
        self,
        key: PoolKey,
        method: str,
        target: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
    ) -> BaseResponse:
        """Send a request to ``key``'s origin; return the response once its
        headers have arrived. ``target`` is the path and query ("/a?b=c").

        The connection goes back to the pool when the response body has
        been read to its end or the response is closed.
        """
        config = TimeoutConfig.from_arg(timeout)
        context = self._contexts.get(key.tls) if key.tls is not None else None
        replay = Replay(body)
        if headers is not None and not isinstance(headers, Mapping) \
                and not hasattr(headers, "iter_raw"):
            # An iterator of pairs would be used up by the first attempt.
            headers = list(headers)
        avoid: set[int] = set()
        failures = connect_failures = 0
        # The failure an idempotent retry is making up for.
        retried_for: HyperError | None = None
        while True:
            lease: Lease[PoolConnection] | None = None
            try:
                lease = self._acquire(key, config, context, avoid)
                return self._exchange(lease, method, target, body, headers, config)
            except HyperError as exc:
                # (Asked before the release, which may close the connection.)
                again = exc.retry_safe or (
                    lease is not None and lease.conn.may_send_again(method, exc))
                if lease is not None:
                    self._release(lease, failed=True)
                    avoid.add(lease.entry.ident)
                if isinstance(exc, (ConnectError, ConnectTimeout, ProxyUnreachableError)):
                    # (A connection may connect when first used.)
                    connect_failures += 1
                    if connect_failures <= self.connect_retries and replay.rewind():
                        log.debug("Retrying after a failed connection attempt: %s", exc)
                        continue
                    if retried_for is not None:
                        # The caller's request failed on its connection; that
                        # the courtesy retry could not connect is secondary
                        # (it stays on the exception's __context__).
                        raise retried_for  # noqa: B904 - keep its own __cause__
                    raise
                failures += 1
                if again and failures <= self.retries and replay.rewind():
                    log.debug("Retrying %s %s on a new connection: %s", method, target, exc)
                    continue
                if self.retry_idempotent and retried_for is None \
                        and may_retry_idempotent(method, exc) and replay.rewind():
                    log.debug("Retrying idempotent %s %s once on a new connection: %s",
                              method, target, exc)
                    retried_for = exc
                    continue
                raise
            except BaseException:
                if lease is not None:
                    self._release(lease, failed=True)
                raise

    def urlopen(
        self,
        method: str,
        url: str,
        body: BodyArg = None,
        headers: HeadersArg = None,
        *,
        timeout: TimeoutArg = None,
        **key_options: Any,
    ) -> BaseResponse:
        """``request()`` with the key made from ``url`` (see :meth:`PoolKey.for_url`)."""
        key = PoolKey.for_url(url, **key_options)
        return self.request(key, method, request_target(url), body, headers, timeout=timeout)

    def close(self) -> None:
        """Close every connection: idle ones now, busy ones as soon as their
        responses are released. The pool stays usable."""
        with self._cond:
            self._state.close_all()
            closable = self._state.take_closable()
            self._cond.notify_all()
        self._reaper_wake.set()
        _close_all(closable)

    def connection_states(self, key: PoolKey) -> list[EntryState]:
        """The states of ``key``'s connections (for tests and debugging)."""
        with self._lock:
            return [entry.state for entry in self._state.entries(key)]

    def pool_keys(self) -> list[PoolKey]:
        """The keys the pool holds connections for."""
        with self._lock:
            keys = self._state.keys()
        return cast("list[PoolKey]", keys)

    def connections(self, key: PoolKey) -> list[PoolConnection]:
        """``key``'s connections, in the order they were opened."""
        with self._lock:
            return [entry.conn for entry in self._state.entries(key)]

    def __enter__(self) -> ConnectionPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one request --------------------------------------------------------------

    def _exchange(
        self,
        lease: Lease[PoolConnection],
        method: str,
        target: str,
        body: BodyArg,
        headers: HeadersArg,
        config: TimeoutConfig,
    ) -> BaseResponse:
        conn = lease.conn
        stream_id = conn.request(method, target, body, headers, timeout=config)
        with self._lock:
            self._state.opened(lease)
        response: BaseResponse = conn.get_response(stream_id)
        response.add_release_callback(partial(self._release, lease))
        # A response dropped unread must not hold its connection forever.
        weakref.finalize(response, self._lost.append, lease)
        return response

    def _release_lost(self) -> None:
        """Release the leases of responses dropped unread. Caller holds ``_lock``."""
        while self._lost:
            lease = self._lost.popleft()
            if not lease.released:
                log.debug("A response was garbage-collected before it was read or closed")
                self._state.release(lease, time.monotonic(), failed=True)

    def _acquire(
        self,
        key: PoolKey,
        config: TimeoutConfig,
        context: ssl.SSLContext | None,
        avoid: set[int],
    ) -> Lease[PoolConnection]:
        make = partial(self._factory, key, context, config)
        deadline: Deadline | None = None
        while True:
            with self._cond:
                self._release_lost()
                decision = self._state.decide(key, time.monotonic(), make, avoid,
                                              key.h2_on_connect, fresh=bool(avoid))
                closable = self._state.take_closable()
                if isinstance(decision, Wait) and not closable:
                    if deadline is None:
                        deadline = Deadline(self._wait_limit(config))
                    if deadline.expired():
                        raise self._wait_error(decision.reason, key)
                    remaining = deadline.remaining()
                    self._cond.wait(_POLL_INTERVAL if remaining is None
                                    else min(remaining, _POLL_INTERVAL))
                    continue
            _close_all(closable)
            if isinstance(decision, Use):
                return decision.lease
            if isinstance(decision, Check):
                if self._check(decision.lease):
                    return decision.lease
            elif isinstance(decision, Connect):
                self._connect(decision.lease)
                return decision.lease

    def _wait_limit(self, config: TimeoutConfig) -> float | None:
        return self.pool_timeout if self.pool_timeout is not None else config.connect

    @staticmethod
    def _wait_error(reason: WaitReason, key: PoolKey) -> HyperError:
        if reason is WaitReason.PENDING:
            return ConnectTimeout(
                f"Timed out waiting for the connection to {key.host}:{key.port} "
                "another request is opening")
        return PoolTimeout(f"No connection to {key.host}:{key.port} became free in time "
                           "(the pool is full and blocking)")

    def _connect(self, lease: Lease[PoolConnection]) -> None:
        try:
            lease.conn.connect()
        except BaseException:
            with self._cond:
                self._state.connect_failed(lease)
                closable = self._state.take_closable()
                self._cond.notify_all()
            _close_all(closable)
            raise
        with self._cond:
            self._state.connected(lease)
            self._cond.notify_all()

    def _check(self, lease: Lease[PoolConnection]) -> bool:
        try:
            alive = lease.conn.check_alive()
        except HyperError as exc:
            log.debug("Pooled connection failed its check: %s", exc)
            alive = False
        with self._cond:
            usable = self._state.checked(lease, alive)
            closable = self._state.take_closable()
            self._cond.notify_all()
        _close_all(closable)
        return usable

    def _release(self, lease: Lease[PoolConnection], failed: bool = False) -> None:
        with self._cond:
            self._release_lost()
            self._state.release(lease, time.monotonic(), failed)
            closable = self._state.take_closable()
            start_reaper = (self._state.idle_timeout is not None and self._reaper is None
                            and self._state.has_idle())
            if start_reaper:
                # The thread holds the pool weakly: a pool dropped without
                # close() (a requests Session never closed) is not kept alive
                # by it, and its connections are closed by it.
                wake = self._reaper_wake
                pool_ref = weakref.ref(self, lambda _ref: wake.set())
                self._reaper = threading.Thread(
                    target=_reap, args=(pool_ref, self._state, self._cond, wake),
                    name="hyper-pool-reaper", daemon=True)
            self._cond.notify_all()
        if start_reaper:
            assert self._reaper is not None
            self._reaper.start()
        _close_all(closable)

    # -- idle timeout -----------------------------------------------------------------

def _reap(
    pool_ref: weakref.ref[ConnectionPool],
    state: PoolState[PoolConnection],
    cond: threading.Condition,
    wake: threading.Event,
) -> None:
    """The reaper thread: close connections as their idle time runs out; stop
    when none is idle. If the pool itself is gone, close everything it held."""
    while True:
        wake.clear()
        with cond:
            pool = pool_ref()
            if pool is None:
                state.close_all()
            next_at = state.expire(time.monotonic())
            closable = state.take_closable()
            if next_at is None and pool is not None:
                pool._reaper = None
            del pool
        _close_all(closable)
        if next_at is None:
            return
        wake.wait(max(0.0, next_at - time.monotonic()) + 0.01)


def default_connection_factory(
    key: PoolKey,
    context: ssl.SSLContext | None,
    config: TimeoutConfig,
    window_manager: type[BaseFlowControlManager] | None = None,
    max_headers: float | None = None,
) -> PoolConnection:
    """A :class:`hyper.HTTPConnection` for ``key`` (not yet connected)."""
    return HTTPConnection(
        key.host,
        key.port,
        secure=key.secure,
        ssl_context=context,
        proxy_host=proxy_config_for(key),
        # Only the connect timeout belongs to the connection: every request
        # brings its own read timeout (ConnectionPool.request passes it).
        timeout=TimeoutConfig(connect=config.connect),
        window_manager=window_manager,
        max_headers=max_headers,
        h2c=key.h2c,
        # The pool decides which connection serves a request, and retries
        # unprocessed requests itself.
        reconnect=False,
    )


def _close_all(connections: list[PoolConnection]) -> None:
    for conn in connections:
        try:
            conn.close()
        except (HyperError, OSError) as exc:
            log.debug("Error while closing a pooled connection: %s", exc)


__all__ = [
    "IDEMPOTENT_METHODS",
    "ConnectionFactory",
    "ConnectionPool",
    "PoolConnection",
    "default_connection_factory",
    "may_retry_idempotent",
]
