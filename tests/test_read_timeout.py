"""The read timeout bounds the server's silence, not the whole response.

requests defines its read timeout as the longest wait for any byte; on a
multiplexed HTTP/2 connection hyper counts every byte received on the
connection as progress for every waiting stream (a stream's own frames may
queue behind others'). A server trickling one byte every 200 ms under a
2 s read timeout therefore succeeds, bare and through the adapter; one
silent for longer than the timeout still fails.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from h2peer import Harness, PeerSession, call, expect_request, handshake, respond
from hyper.contrib import HTTP20Adapter
from hyper.exceptions import ReadTimeout

pytestmark = pytest.mark.timeout(60)

BODY = b"0123456789"


def trickle(session: PeerSession) -> None:
    """The whole response, one byte every 200 ms (about 5 s in all)."""
    respond("r", BODY)(session)
    data, session._outbuf = bytes(session._outbuf), bytearray()
    for i in range(len(data)):
        session.sock.sendall(data[i:i + 1])
        time.sleep(0.2)


def script() -> list[Any]:
    return [handshake(), expect_request("r"), call(trickle)]


def test_trickling_server_within_read_timeout(h: Harness) -> None:
    peer = h.start(script())
    conn = h.client(peer, timeout=2)
    started = time.monotonic()
    assert conn.get_response(conn.request("GET", "/")).read() == BODY
    # The response did take longer than the read timeout.
    assert time.monotonic() - started > 2
    h.finish()


def test_trickling_server_through_the_adapter(h: Harness) -> None:
    peer = h.start(script())
    session = requests.Session()
    session.mount("http://", HTTP20Adapter(h2c="prior-knowledge"))
    with session:
        response = session.get(f"http://127.0.0.1:{peer.port}/", timeout=2)
        assert response.content == BODY
    h.finish()


def test_silence_longer_than_read_timeout_fails(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r")])
    conn = h.client(peer, timeout=0.5)
    with pytest.raises(ReadTimeout):
        conn.get_response(conn.request("GET", "/"))
    h.finish()
