"""A thread waiting on an HTTP/2 connection is woken when what it waits for
changes, not by polling: here the reader waits for flow-control credit to
upload, and another thread closes the response, which ends the upload."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from hyperframe.frame import SettingsFrame

from h2peer import ErrorCodes, Harness, expect_request, expect_rst, handshake, send_headers

pytestmark = pytest.mark.timeout(60)


def test_closing_a_response_wakes_the_uploading_reader(h: Harness) -> None:
    peer = h.start([
        # No flow-control credit at all: the upload waits.
        handshake({SettingsFrame.INITIAL_WINDOW_SIZE: 0}),
        expect_request("up"),
        send_headers("up", [(":status", "200")]),
        expect_rst("up", [ErrorCodes.CANCEL]),
    ])
    # Far longer than the bound below: only a wake-up ends the wait in time.
    conn = h.client(peer, timeout=30)
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            outcome["id"] = conn.request("POST", "/up", body=b"x" * 10)
        except Exception as exc:  # reported below
            outcome["error"] = exc

    uploader = threading.Thread(target=upload)
    uploader.start()
    deadline = time.monotonic() + 10
    while conn.is_idle():  # until the request's stream is open
        assert time.monotonic() < deadline
        time.sleep(0.01)
    response = conn.get_response()
    assert response.status == 200
    response.close()
    uploader.join(15)
    assert not uploader.is_alive()
    assert outcome == {"id": 1}
    h.finish()
