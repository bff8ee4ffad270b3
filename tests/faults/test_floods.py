"""SETTINGS, PING and empty-DATA floods (RFC 9113 sections 6.5, 6.7, 6.1).

Each of these frames costs the server a few bytes and the client some work
(a SETTINGS or PING must be acknowledged). A flood of thousands must leave
the client correct and responsive: the response after the flood arrives
whole, within the bound, and the connection carries the next request (the
acknowledgements are small enough to flow without blocking on the peer).
"""

from __future__ import annotations

import pytest
from hyperframe.frame import PingFrame, SettingsFrame

from faults.support import NEXT_BODY, TIMEOUT, bounded
from h2peer import (
    TYPE_DATA,
    Harness,
    PeerSession,
    call,
    expect_request,
    handshake,
    raw_frame,
    respond,
    send_headers,
)

pytestmark = pytest.mark.timeout(60)

FLOOD = 3000


def _settings(session: PeerSession) -> None:
    frame = SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100})
    session.queue(frame.serialize() * FLOOD)


def _pings(session: PeerSession) -> None:
    session.queue(b"".join(PingFrame(0, i.to_bytes(8, "big")).serialize() for i in range(FLOOD)))


def _empty_data(session: PeerSession) -> None:
    send_headers("r", [(":status", "200")])(session)
    session.queue(raw_frame(TYPE_DATA, 0, session.stream("r"), b"") * FLOOD)


FLOODS = {"settings": _settings, "ping": _pings, "empty-data": _empty_data}


def _finish_response(kind: str) -> object:
    def step(session: PeerSession) -> None:
        if kind == "empty-data":
            session.queue(raw_frame(TYPE_DATA, 0x1, session.stream("r"), b"after the flood"))
        else:
            respond("r", b"after the flood")(session)

    return call(step)


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_a_flood_leaves_the_connection_working(h: Harness, kind: str) -> None:
    peer = h.start([handshake(), expect_request("r"), call(FLOODS[kind]), _finish_response(kind),
                    expect_request("next"), respond("next", NEXT_BODY)])
    conn = h.client(peer, timeout=TIMEOUT)
    with bounded():
        assert conn.get_response(conn.request("GET", "/")).read() == b"after the flood"
        assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()
    if kind == "ping":
        acks = [f for f in peer.frames_of(PingFrame) if "ACK" in f.flags]
        assert [f.opaque_data for f in acks] == [i.to_bytes(8, "big") for i in range(FLOOD)]
    if kind == "settings":
        acks = [f for f in peer.frames_of(SettingsFrame) if "ACK" in f.flags]
        assert len(acks) == FLOOD + 1  # and the handshake's
