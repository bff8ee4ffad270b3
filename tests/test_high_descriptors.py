"""Sockets whose descriptor is above select()'s limit (FD_SETSIZE): both
protocols wait on them with poll, against real servers.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from typing import Any

import pytest

from hyper import HTTP11Connection, HTTP20Connection
from hyper.common.response import BaseResponse

pytestmark = pytest.mark.timeout(60)


def get(conn: Any, path: str) -> BaseResponse:
    stream_id = conn.request("GET", path)
    response: BaseResponse = conn.get_response(stream_id) if stream_id else conn.get_response()
    return response


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
