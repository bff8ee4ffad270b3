"""HTTP/2 over TLS when records arrive in pieces: bytes the TLS layer already
decrypted are read without waiting on the socket (scripted h2 peer).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import hyper.http20.connection
from h2helpers import wait_for
from h2peer import (
    Harness,
    expect_request,
    handshake,
    respond,
    send_goaway,
    server_tls_context,
    wait_event,
)
from hyper import HTTP20Connection

pytestmark = pytest.mark.timeout(60)


def test_tls_bytes_already_decrypted_are_read_without_waiting(
    h: Harness, certs: Any, ssl_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With tiny reads, most of each TLS record stays inside the TLS layer,
    where polling the socket cannot see it: hyper must read it anyway, both
    while waiting for a response and in check_alive."""
    monkeypatch.setattr(hyper.http20.connection, "_BATCH_LIMIT", 1)
    goaway_now = threading.Event()
    peer = h.start(
        [handshake(), expect_request("r"), respond("r", b"x" * 300), wait_event(goaway_now),
         send_goaway("r")],
        tls=server_tls_context(str(certs.server_cert_path), str(certs.server_key_path)),
        step_timeout=15,
    )
    conn = h.track(HTTP20Connection("127.0.0.1", peer.port, secure=True,
                                    ssl_context=ssl_context, timeout=10,
                                    network_buffer_size=5))
    assert conn.get_response(conn.request("GET", "/")).read() == b"x" * 300
    goaway_now.set()
    assert wait_for(lambda: not conn.check_alive())
    h.finish()
