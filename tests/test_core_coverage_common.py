"""What both protocols share, against real servers: the response object's
whole API, the negotiating HTTPConnection's edges, flow-control managers,
and sockets whose descriptor is above select()'s limit."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from typing import Any

import pytest

from app import payload
from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.common.response import BaseResponse
from hyper.exceptions import InvalidURLError, LocalProtocolError
from hyper.http20.window import BaseFlowControlManager

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


# -- the response API -------------------------------------------------------------------


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


# -- the negotiating connection -----------------------------------------------------------


def test_h2c_mode_is_checked() -> None:
    with pytest.raises(InvalidURLError, match="h2c must be"):
        HTTPConnection("127.0.0.1", 80, h2c="sometimes")


def test_nothing_is_known_before_the_first_request(h1_server: Any) -> None:
    conn = HTTPConnection(h1_server.host, h1_server.port, timeout=5, h2c="off")
    assert conn.version is None and conn.negotiated_protocol is None
    assert conn.connection is None
    with pytest.raises(LocalProtocolError, match="No request has been sent"):
        conn.get_response()
    assert conn.request("GET", "/get") is None
    assert conn.negotiated_protocol == "http/1.1"
    # HTTP/1.1 has no server push.
    assert list(conn.get_pushes(capture_all=True)) == []
    assert conn.get_response().status == 200
    conn.close()


# -- flow control ----------------------------------------------------------------------------


def test_base_manager_grants_nothing_when_blocked() -> None:
    class Never(BaseFlowControlManager):
        def increase_window_size(self, frame_size: int) -> int:
            return 0

    manager = Never(100)
    assert manager._handle_frame(100) == 0
    assert manager.window_size == 0
    assert manager.blocked() == 0


# -- descriptors beyond select()'s reach -----------------------------------------------------


@pytest.fixture
def high_descriptors() -> Iterator[None]:
    """Keep descriptors up to 1100 busy, so new sockets get numbers above
    FD_SETSIZE (1024), which select() refuses."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this process may not open 1200 files (hard limit {hard})")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while True:
            fd = os.open(os.devnull, os.O_RDONLY)
            held.append(fd)
            if fd >= 1100:
                break
        yield
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_connections_work_with_high_descriptors(
    high_descriptors: None, h2c_server: Any, h1_server: Any
) -> None:
    with HTTP20Connection(h2c_server.host, h2c_server.port, secure=False, timeout=10) as h2:
        assert get(h2, "/token/high").read() == b"high"
        assert h2._sock is not None and h2._sock.fileno() > 1024
        assert h2.check_alive()
    with HTTP11Connection(h1_server.host, h1_server.port, timeout=10) as h1:
        assert get(h1, "/token/high").read() == b"high"
        assert h1._sock is not None and h1._sock.fileno() > 1024
        # An idle keep-alive connection is still good.
        assert h1.check_alive()
        assert get(h1, "/token/again").read() == b"again"
