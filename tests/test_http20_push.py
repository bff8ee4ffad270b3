"""Server push on HTTP20Connection: the push objects and reading a pushed
response by its stream ID (scripted h2 peer).
"""

from __future__ import annotations

import pytest

from h2peer import (
    ErrorCodes,
    Harness,
    expect_request,
    handshake,
    push_headers,
    respond,
    send,
    send_push_promise,
    send_rst,
)
from hyper.exceptions import (
    StreamResetError,
)

pytestmark = pytest.mark.timeout(60)


def test_push_objects_and_reading_a_push_by_stream_id(h: Harness) -> None:
    peer = h.start([
        handshake(),
        expect_request("r"),
        send(send_push_promise("r", 2, lambda s: push_headers(s.named["r"], "/p1")),
             send_push_promise("r", 4, lambda s: push_headers(s.named["r"], "/p2")),
             respond("r", b"main")),
        respond(2, b"first push"),
        send_rst(4, ErrorCodes.REFUSED_STREAM),
    ])
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    resp = conn.get_response()
    assert resp.stream_id == sid
    assert resp.read() == b"main"
    one, two = conn.get_pushes(sid)
    assert (one.stream_id, two.stream_id) == (2, 4)
    assert repr(one) == "<HTTP20Push b'GET' b'http'://" + repr(one.authority) + "b'/p1'>"
    # A promised response may also be read like any other, by its stream ID.
    pushed = conn.get_response(one.stream_id)
    assert pushed.stream_id == 2
    assert pushed.read() == b"first push"
    with pytest.raises(StreamResetError) as info:
        two.get_response()
    assert info.value.error_code == ErrorCodes.REFUSED_STREAM
    assert conn.is_idle()
    h.finish()
