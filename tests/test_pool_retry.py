"""The pool sends again a request the server did not process, and only such
a request, against scripted HTTP/2 servers (h2peer): each scripted peer
takes one connection, so the pool's connection factory points the first
connection at the first peer, the next at the next.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from hyperframe.frame import DataFrame

from h2peer import (
    ErrorCodes,
    Harness,
    ScriptedPeer,
    expect_frame,
    expect_request,
    handshake,
    respond,
    send,
    send_goaway,
    send_rst,
)
from hyper.common.timeouts import TimeoutConfig
from hyper.exceptions import HTTP2ConnectionError, StreamNotProcessedError, StreamResetError
from hyper.pool import ConnectionPool, PoolConnection, PoolKey, default_connection_factory

pytestmark = pytest.mark.timeout(30)

KEY = PoolKey("http", "127.0.0.1", 1, h2c="prior-knowledge")  # type: ignore[arg-type]


@pytest.fixture
def h() -> Iterator[Harness]:
    harness = Harness("whole")
    yield harness
    harness.teardown()


def pool_for(*peers: ScriptedPeer, retries: int = 3) -> ConnectionPool:
    """A pool whose n-th new connection goes to the n-th peer."""
    ports = iter([peer.port for peer in peers])

    def factory(key: PoolKey, context: Any, config: TimeoutConfig) -> PoolConnection:
        target = PoolKey("http", "127.0.0.1", next(ports), h2c=key.h2c)
        return default_connection_factory(target, context, config)

    return ConnectionPool(connection_factory=factory, retries=retries)


def refused_with_goaway() -> list[Any]:
    # RFC 9113 section 6.8: last_stream_id 0, so stream 1 was not processed.
    return [handshake(), expect_request("r"), send_goaway(0)]


def refused_with_rst() -> list[Any]:
    return [handshake(), expect_request("r"), send_rst("r", ErrorCodes.REFUSED_STREAM)]


def answers(body: bytes) -> list[Any]:
    return [handshake(), expect_request("r"), respond("r", body)]


@pytest.mark.parametrize("refusal", [refused_with_goaway, refused_with_rst],
                         ids=["goaway", "refused-stream"])
@pytest.mark.parametrize("body", [None, b"bytes", "text", "file"])
def test_unprocessed_request_is_sent_again_on_a_new_connection(
    h: Harness, refusal: Any, body: Any,
) -> None:
    first = h.start(refusal())
    whole_body = expect_frame(DataFrame, "r", lambda f: "END_STREAM" in f.flags)
    second = h.start([handshake(), expect_request("r"),
                      *([whole_body] if body is not None else []),
                      respond("r", b"answered")])
    pool = pool_for(first, second)
    sent: Any = body
    if body == "file":
        # A file is sent again from where it stood, not from its start.
        sent = io.BytesIO(b"xxfile")
        sent.seek(2)
    response = pool.request(KEY, "POST", "/upload", sent, timeout=5)
    assert response.read() == b"answered"
    pool.close()
    h.finish()
    assert first.requests["r"].path == second.requests["r"].path == "/upload"
    expected = {None: b"", b"bytes": b"bytes", "text": b"text", "file": b"file"}[body]
    assert b"".join(f.data for f in second.frames_of(DataFrame)) == expected


def test_a_generator_body_is_not_sent_again(h: Harness) -> None:
    first = h.start(refused_with_goaway())
    pool = pool_for(first)
    with pytest.raises(StreamNotProcessedError):
        pool.request(KEY, "POST", "/", iter([b"once"]), timeout=5)
    pool.close()
    h.finish()


def test_a_processed_request_is_not_sent_again(h: Harness) -> None:
    first = h.start([handshake(), expect_request("r"),
                     send_rst("r", ErrorCodes.INTERNAL_ERROR)])
    pool = pool_for(first)
    with pytest.raises(StreamResetError) as info:
        pool.request(KEY, "GET", "/", timeout=5)
    assert not info.value.retry_safe
    pool.close()
    h.finish()


def test_retries_are_bounded(h: Harness) -> None:
    peers = [h.start(refused_with_goaway()) for _ in range(3)]
    pool = pool_for(*peers, retries=2)
    with pytest.raises(StreamNotProcessedError):
        pool.request(KEY, "GET", "/", timeout=5)
    pool.close()
    h.finish()
    assert all(peer.requests for peer in peers)


def test_goaway_lets_streams_in_flight_finish(h: Harness) -> None:
    """A connection that received GOAWAY serves no new request, but its
    requests at or below last_stream_id complete on it; then it closes."""
    first = h.start([handshake(), expect_request("a"), send_goaway("a"),
                     respond("a", b"finished")])
    second = h.start(answers(b"new connection"))
    pool = pool_for(first, second)
    held = pool.request(KEY, "GET", "/a", timeout=5)
    assert pool.request(KEY, "GET", "/b", timeout=5).read() == b"new connection"
    assert held.read() == b"finished"
    assert len(pool.connections(KEY)) == 1
    pool.close()
    h.finish()


def test_the_server_answer_is_not_lost_when_goaway_follows(h: Harness) -> None:
    first = h.start([handshake(), expect_request("r"), respond("r", b"ok"),
                     send_goaway("r", ErrorCodes.NO_ERROR)])
    pool = pool_for(first)
    assert pool.request(KEY, "GET", "/", timeout=5).read() == b"ok"
    pool.close()
    h.finish()



def goaway_then_protocol_error() -> list[Any]:
    """hypercorn's way: a graceful GOAWAY keeping stream r, then (a stream
    crossed it) GOAWAY with PROTOCOL_ERROR, which ends r unanswered."""
    return [handshake(), expect_request("r"),
            send(send_goaway("r", ErrorCodes.NO_ERROR),
                 send_goaway("r", ErrorCodes.PROTOCOL_ERROR))]


def test_idempotent_request_cut_off_after_goaway_is_sent_again(h: Harness) -> None:
    """RFC 9110 section 9.2.2: a GET cut off by a communication failure
    before its response may be repeated; it was maybe processed, so its
    error was not retry_safe."""
    first = h.start(goaway_then_protocol_error())
    second = h.start(answers(b"answered"))
    pool = pool_for(first, second)
    assert pool.request(KEY, "GET", "/", timeout=5).read() == b"answered"
    pool.close()
    h.finish()


def test_non_idempotent_request_cut_off_after_goaway_is_not_sent_again(h: Harness) -> None:
    first = h.start(goaway_then_protocol_error())
    pool = pool_for(first)
    with pytest.raises(HTTP2ConnectionError) as info:
        pool.request(KEY, "POST", "/", b"once", timeout=5)
    assert not info.value.retry_safe
    pool.close()
    h.finish()
