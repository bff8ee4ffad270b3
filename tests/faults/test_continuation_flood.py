"""CONTINUATION floods: a header block that never ends (RFC 9113 section 6.10).

A server can send HEADERS without END_HEADERS and then CONTINUATION frames
for ever, empty or full, so that a client buffers without limit or spins
(the 2024 "CONTINUATION flood" class of attack). hyper (through h2's frame
buffer) refuses a block of more than 64 CONTINUATION frames: a connection
error (GOAWAY PROTOCOL_ERROR, :class:`hyper.exceptions.ConnectionError`),
long before the flood ends; the next connection works.
"""

from __future__ import annotations

import pytest

import hyper.exceptions
from faults.support import NEXT_BODY, TIMEOUT, fails_with
from h2peer import (
    TYPE_CONTINUATION,
    TYPE_HEADERS,
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    expect_goaway,
    expect_request,
    handshake,
    raw_frame,
    respond,
    send_data,
)

pytestmark = pytest.mark.timeout(60)

#: Frames in the flood: far more than any client should take.
FLOOD = 5000


def _flood(payload: bytes) -> object:
    def step(session: PeerSession) -> None:
        stream = session.stream("r")
        # ":status 200" as an indexed field, without END_HEADERS.
        frames = [raw_frame(TYPE_HEADERS, 0x1, stream, b"\x88")]
        frames += [raw_frame(TYPE_CONTINUATION, 0, stream, payload)] * FLOOD
        session.queue(b"".join(frames))
        session.flush(tolerate_close=True)

    return call(step)


FLOODS = {
    "empty": b"",
    # Literal header fields without indexing, "x: y", repeated: valid HPACK.
    "small-fields": b"\x00\x01x\x01y" * 4,
}
#: Frames of the largest size the client allows: 64 of them are 1 MiB, too
#: much to send one byte at a time, so this flood is only sent whole.
FULL_FRAMES = b"\x00\x01x\x01y" * (16384 // 5)


@pytest.mark.parametrize("kind", sorted(FLOODS))
def test_a_continuation_flood_is_refused(h: Harness, kind: str) -> None:
    _check_refused(h, FLOODS[kind])


def test_a_flood_of_full_frames_is_refused() -> None:
    h = Harness("whole")
    try:
        _check_refused(h, FULL_FRAMES)
    finally:
        h.teardown()


def _check_refused(h: Harness, payload: bytes) -> None:
    peer = h.start([handshake(), expect_request("r"), _flood(payload),
                    expect_goaway([ErrorCodes.PROTOCOL_ERROR])])
    conn = h.client(peer, timeout=TIMEOUT)
    with fails_with(hyper.exceptions.ConnectionError) as info:
        conn.get_response(conn.request("GET", "/")).read()
    assert info.value.error_code == ErrorCodes.PROTOCOL_ERROR
    assert not conn.is_usable()
    fresh = h.start([handshake(), expect_request("r"), respond("r", NEXT_BODY)])
    conn = h.client(fresh, timeout=TIMEOUT)
    assert conn.get_response(conn.request("GET", "/")).read() == NEXT_BODY
    h.finish()


def test_a_long_but_bounded_header_block_is_accepted(h: Harness) -> None:
    # 60 CONTINUATIONs, then END_HEADERS: within h2's backlog of 64.
    def step(session: PeerSession) -> None:
        stream = session.stream("r")
        frames = [raw_frame(TYPE_HEADERS, 0x1, stream, b"\x88")]
        frames += [raw_frame(TYPE_CONTINUATION, 0, stream, b"")] * 59
        frames.append(raw_frame(TYPE_CONTINUATION, 0x4, stream, b""))
        session.queue(b"".join(frames))

    peer = h.start([handshake(), expect_request("r"), call(step),
                    send_data("r", b"", end_stream=True)])
    conn = h.client(peer, timeout=TIMEOUT)
    response = conn.get_response(conn.request("GET", "/"))
    assert response.status == 200
    # Read to the end: the peer has then sent all it will (byte by byte, it
    # may still be writing the last DATA frame when the headers are in).
    assert response.read() == b""
    h.finish()
