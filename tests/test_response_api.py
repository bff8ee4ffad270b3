"""The response object's whole API, over HTTP/2 (h2c) and HTTP/1.1 against
the test app: reads of every size, read_chunked, iteration, context
management, close and its callbacks, fileno.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app import payload
from hyper import HTTP11Connection, HTTP20Connection
from hyper.common.response import BaseResponse

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(params=["h2c", "http/1.1"])
def conn(request: pytest.FixtureRequest, h2c_server: Any, h1_server: Any) -> Iterator[Any]:
    """A connection of each protocol to a server running the test app."""
    if request.param == "h2c":
        connection: Any = HTTP20Connection(h2c_server.host, h2c_server.port, secure=False,
                                           timeout=10)
    else:
        connection = HTTP11Connection(h1_server.host, h1_server.port, timeout=10)
    yield connection
    connection.close()


def get(conn: Any, path: str) -> BaseResponse:
    stream_id = conn.request("GET", path)
    response: BaseResponse = conn.get_response(stream_id) if stream_id else conn.get_response()
    return response


def test_negative_amount_reads_everything(conn: Any) -> None:
    resp = get(conn, "/bytes/70000")
    assert not resp.closed and not resp.isclosed()
    assert resp.read(-1) == payload(70000)
    assert resp.closed and resp.isclosed()


def test_read_chunked_starts_with_what_read_buffered(conn: Any) -> None:
    resp = get(conn, "/stream/100000")
    first = resp.read(10)
    assert first == payload(10)
    pieces = list(resp.read_chunked())
    # The rest of the piece read() had to take comes first, whole.
    assert len(pieces) >= 2
    assert first + b"".join(pieces) == payload(100000)
    assert resp.closed


def test_iteration_and_context_manager(conn: Any) -> None:
    with get(conn, "/stream/50000") as resp:
        assert b"".join(resp) == payload(50000)
    assert resp.closed
    with get(conn, "/bytes/50000") as unread:
        pass
    assert unread.closed  # left the block unread: closed anyway


def test_close_twice_and_release_callbacks(conn: Any) -> None:
    resp = get(conn, "/bytes/20")
    calls: list[str] = []
    resp.add_release_callback(lambda: calls.append("early"))
    resp.close()
    resp.close()
    assert calls == ["early"]
    # Registered after the release: called at once.
    resp.add_release_callback(lambda: calls.append("late"))
    assert calls == ["early", "late"]
    assert resp.read() == b""


def test_responses_have_no_file_descriptor(conn: Any) -> None:
    resp = get(conn, "/bytes/3")
    with pytest.raises(OSError, match="file descriptor"):
        resp.fileno()
    assert resp.read() == payload(3)


def test_response_class_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        BaseResponse(200, "OK", None)  # type: ignore[abstract, arg-type]
