"""A response cut off at every byte offset, HTTP/1.1 and HTTP/2.

The server sends the first ``n`` bytes of a valid response and closes the
connection (FIN), for every ``n`` short of the whole. hyper must raise
:class:`ConnectionClosed` (never hand out a short body as complete, never
wait for the read timeout), and the next request must work.
"""

from __future__ import annotations

import hpack
import pytest
from hyperframe.frame import DataFrame, HeadersFrame, SettingsFrame

from faults.support import NEXT_BODY, TIMEOUT, fails_with, h1_get, h2_pool
from h2peer import Harness, close, expect_preface, expect_request, handshake, respond, send_raw
from hyper.exceptions import ConnectionClosed
from tcppeer import OK, Peers, fin, head, reply

pytestmark = pytest.mark.timeout(120)

H1_RESPONSES = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: b\r\n\r\n0123456789",
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"4\r\n0123\r\n6;ext=1\r\n456789\r\n0\r\nx-t: 1\r\n\r\n"),
}


@pytest.mark.parametrize("kind", sorted(H1_RESPONSES))
def test_http11_response_cut_at_every_offset(tcp_peers: Peers, kind: str) -> None:
    whole = H1_RESPONSES[kind]
    cuts = range(len(whole))
    peer = tcp_peers(*([head(), reply(whole[:n]), fin()] for n in cuts),
                     # The whole answer, then the next on the same connection.
                     [head(), reply(whole), head(), reply(OK)])
    with h2_pool() as pool:
        for _ in cuts:
            with fails_with(ConnectionClosed):
                h1_get(pool, peer.port).read()
        assert h1_get(pool, peer.port).read() == b"0123456789"
        assert h1_get(pool, peer.port).read() == b"hello"
    peer.join()


def _server_preface() -> bytes:
    settings = SettingsFrame(0, settings={SettingsFrame.MAX_CONCURRENT_STREAMS: 100})
    return settings.serialize() + SettingsFrame(0, flags=["ACK"]).serialize()


def _h2_response() -> bytes:
    """HEADERS (fresh HPACK context: each connection is new) and two DATA frames."""
    block = hpack.Encoder().encode([(":status", "200"), ("content-length", "10"),
                                    ("x-a", "b")])
    return (HeadersFrame(1, block, flags=["END_HEADERS"]).serialize()
            + DataFrame(1, b"0123").serialize()
            + DataFrame(1, b"456789", flags=["END_STREAM"]).serialize())


def _exchange(h: Harness, script: list[object], cut: bool) -> None:
    """One connection to a peer running ``script``; ``cut``: it fails."""
    peer = h.start(script)
    conn = h.client(peer, timeout=TIMEOUT)
    if not cut:
        assert conn.get_response(conn.request("GET", "/")).read() == NEXT_BODY
    else:
        with fails_with(ConnectionClosed):
            conn.get_response(conn.request("GET", "/")).read()
    conn.close()
    peer.join()


def test_http2_server_preface_cut_at_every_offset(h: Harness) -> None:
    preface = _server_preface()
    # Up to the end of the SETTINGS frame: the ACK is not needed to go on.
    for n in range(len(preface) - 9):
        _exchange(h, [expect_preface(), send_raw(preface[:n], tolerate_close=True),
                      close("fin")], cut=True)
    _exchange(h, [handshake(), expect_request("r"), respond("r", NEXT_BODY)], cut=False)
    h.finish()


def test_http2_response_cut_at_every_offset(h: Harness) -> None:
    response = _h2_response()
    for n in range(len(response)):
        _exchange(h, [handshake(), expect_request("r"), send_raw(response[:n]), close("fin")],
                  cut=True)
    _exchange(h, [handshake(), expect_request("r"), respond("r", NEXT_BODY)], cut=False)
    h.finish()
