"""Pushes for an origin the server does not speak for (RFC 9113 section 8.4).

"A client MUST treat a PUSH_PROMISE for which the server is not
authoritative ... as a stream error of type PROTOCOL_ERROR": the promise is
reset (PROTOCOL_ERROR, REFUSED_STREAM or CANCEL), never offered by
``get_pushes``, and whatever the server still sends on it is dropped; the
main response and the connection are unaffected.
"""

from __future__ import annotations

import pytest

from faults.support import NEXT_BODY, TIMEOUT, bounded
from h2peer import (
    ErrorCodes,
    Harness,
    PeerSession,
    expect_request,
    expect_rst,
    handshake,
    respond,
    send,
    send_push_promise,
)

pytestmark = pytest.mark.timeout(60)


def _foreign(kind: str) -> object:
    def headers(session: PeerSession) -> list[tuple[str, str]]:
        request = session.named["r"]
        authority = request.authority or ""
        scheme = request.scheme or "http"
        if kind == "other-host":
            authority = "evil.example"
        elif kind == "other-port":
            authority = authority.rsplit(":", 1)[0] + ":1"
        else:  # other-scheme: an https resource pushed on a cleartext connection
            scheme = "https"
        return [(":method", "GET"), (":scheme", scheme), (":authority", authority),
                (":path", "/foreign.js")]

    return headers


@pytest.mark.parametrize("kind", ["other-host", "other-port", "other-scheme"])
def test_a_foreign_push_is_refused(h: Harness, kind: str) -> None:
    refusals = [ErrorCodes.PROTOCOL_ERROR, ErrorCodes.REFUSED_STREAM, ErrorCodes.CANCEL]
    peer = h.start([
        handshake(), expect_request("r"),
        send(send_push_promise("r", 2, _foreign(kind)), respond("r", b"main")),
        expect_rst(2, refusals),
        # Sent as if already in flight: dropped by the client.
        respond(2, b"foreign body"),
        expect_request("next"), respond("next", NEXT_BODY),
    ])
    conn = h.client(peer, enable_push=True, timeout=TIMEOUT)
    sid = conn.request("GET", "/")
    with bounded():
        assert conn.get_response(sid).read() == b"main"
        assert list(conn.get_pushes(sid)) == []
        assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    assert list(conn.get_pushes(sid, capture_all=True)) == []
    h.finish()
