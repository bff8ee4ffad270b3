"""Helpers shared by the fault tests: time bounds, peer series, the next request.

* :func:`bounded`: a generous bound proving that a fault did not hang the
  client (never a speed test: several times the timeout in play).
* :func:`h2_series`: scripted HTTP/2 peers that answer the connections to
  one port in turn (tests/h2peer.py accepts one connection per peer), so a
  pool's next connection meets the next script.
* :func:`h2_pool` / :func:`h1_pool`: a :class:`hyper.pool.ConnectionPool`
  for a peer's port, to show that the request after the fault works.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TypeVar

import pytest

from h2peer import Harness, ScriptedPeer, Step, expect_request, handshake, respond
from hyper.common.response import BaseResponse
from hyper.pool import ConnectionPool

#: The client read timeout most fault tests use, in seconds.
TIMEOUT = 2.0
#: No fault may take longer than this to surface (5x the timeout).
BOUND = 5 * TIMEOUT
#: What the next, healthy exchange answers.
NEXT_BODY = b"the next request works"


@contextmanager
def bounded(seconds: float = BOUND) -> Iterator[None]:
    """Fail if the block took longer than ``seconds`` (it hung)."""
    start = time.monotonic()
    yield
    elapsed = time.monotonic() - start
    assert elapsed < seconds, f"took {elapsed:.1f} s, the bound is {seconds} s: a hang"


def healthy_h2() -> list[Step]:
    """A normal exchange: the script after a fault."""
    return [handshake(), expect_request("next"), respond("next", NEXT_BODY)]


def h2_series(h: Harness, *scripts: Sequence[Step], **kwargs: object) -> ScriptedPeer:
    """Peers answering successive connections to one port, in order.

    They share one listening socket; each peer starts accepting only once
    the one before has accepted its connection (from its first step), so
    the order of connections is the order of the scripts.
    """
    peers: list[ScriptedPeer] = []
    for script in reversed(scripts):
        steps = list(script)
        if peers:
            follower = peers[-1]
            steps.insert(0, lambda _session, follower=follower: follower.start() and None)
        peer = ScriptedPeer(steps, feed=h.feed, **kwargs)  # type: ignore[arg-type]
        peers.append(peer)
    peers.reverse()
    first = peers[0]
    for peer in peers[1:]:
        peer._listener.close()
        peer._listener = first._listener.dup()
        peer.port = first.port
    h.peers.extend(peers)
    return first.start()


def h2_pool(retries: int = 0) -> ConnectionPool:
    """A pool that sends nothing twice (each fault script serves one
    connection): no resends of unprocessed requests unless ``retries``, no
    idempotent retry."""
    return ConnectionPool(retries=retries, idle_timeout=None, retry_idempotent=False)


def h2_get(pool: ConnectionPool, port: int, path: str = "/", timeout: float = TIMEOUT,
           ) -> BaseResponse:
    return pool.urlopen("GET", f"http://127.0.0.1:{port}{path}", h2c="prior-knowledge",
                        timeout=(BOUND, timeout))


def h1_get(pool: ConnectionPool, port: int, path: str = "/", timeout: float = TIMEOUT,
           ) -> BaseResponse:
    return pool.urlopen("GET", f"http://127.0.0.1:{port}{path}", h2c="off",
                        timeout=(BOUND, timeout))


E = TypeVar("E", bound=BaseException)


@contextmanager
def fails_with(kind: type[E], seconds: float = BOUND) -> Iterator[pytest.ExceptionInfo[E]]:
    """The block raises exactly ``kind`` (not a subclass) within ``seconds``."""
    with bounded(seconds), pytest.raises(kind) as info:
        yield info
    assert type(info.value) is kind, f"{type(info.value).__name__}: {info.value}"
