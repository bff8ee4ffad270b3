"""Rapid reset, both ways (the 2023 "HTTP/2 Rapid Reset" class of fault).

* The server resets every stream as soon as it opens (REFUSED_STREAM): the
  pool retries a bounded number of times on new connections and then raises
  :class:`StreamResetError`; it never loops.
* Many streams reset at once mid-flight: each fails alone, the connection
  serves the next request.
* The client opens and abandons many streams quickly (``close()`` before the
  body: RST_STREAM CANCEL): the connection stays usable.
"""

from __future__ import annotations

import pytest
from hyperframe.frame import RstStreamFrame

from faults.support import NEXT_BODY, TIMEOUT, bounded, fails_with, h2_get, h2_pool, h2_series
from h2peer import (
    ErrorCodes,
    Harness,
    PeerSession,
    call,
    expect_request,
    expect_rst,
    handshake,
    respond,
    send,
    send_data,
    send_headers,
    send_rst,
)
from hyper.exceptions import StreamResetError

pytestmark = pytest.mark.timeout(60)

STREAMS = 50


def test_every_stream_refused_ends_after_the_retries(h: Harness) -> None:
    refusing = [handshake(), expect_request("r"), send_rst("r", ErrorCodes.REFUSED_STREAM)]
    retries = 2
    # A refused stream leaves its connection usable: the request after the
    # failure goes to the last one.
    last = [*refusing, expect_request("next"), respond("next", NEXT_BODY)]
    peer = h2_series(h, *[refusing] * retries, last)
    with h2_pool(retries=retries) as pool:
        with fails_with(StreamResetError) as info:
            h2_get(pool, peer.port)
        assert info.value.error_code == ErrorCodes.REFUSED_STREAM
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


def test_many_streams_reset_at_once(h: Harness) -> None:
    names = [f"s{i}" for i in range(STREAMS)]
    peer = h.start([handshake(), *[expect_request(n) for n in names],
                    send(*[send_rst(n, ErrorCodes.INTERNAL_ERROR) for n in names]),
                    expect_request("next"), respond("next", NEXT_BODY)])
    conn = h.client(peer, timeout=TIMEOUT)
    streams = [conn.request("GET", f"/{n}") for n in names]
    with bounded():
        for stream in streams:
            with fails_with(StreamResetError):
                conn.get_response(stream)
        assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()


def test_the_client_abandoning_many_streams(h: Harness) -> None:
    def answer_and_expect_cancel(session: PeerSession) -> None:
        for i in range(STREAMS):
            expect_request(f"s{i}")(session)
            send(send_headers(f"s{i}", [(":status", "200")]), send_data(f"s{i}", b"x"))(session)
            session.flush()
            expect_rst(f"s{i}", [ErrorCodes.CANCEL])(session)

    peer = h.start([handshake(), call(answer_and_expect_cancel),
                    expect_request("next"), respond("next", NEXT_BODY)])
    conn = h.client(peer, timeout=TIMEOUT)
    with bounded():
        for i in range(STREAMS):
            conn.get_response(conn.request("GET", f"/s{i}")).close()
        assert conn.get_response(conn.request("GET", "/next")).read() == NEXT_BODY
    h.finish()
    cancelled = {f.stream_id for f in peer.frames_of(RstStreamFrame)
                 if f.error_code == ErrorCodes.CANCEL}
    assert cancelled >= {b.stream_id for n, b in peer.requests.items() if n != "next"}
