"""GOAWAY at every point of an exchange (RFC 9113 section 6.8).

"Once the GOAWAY is sent, the sender will ignore frames sent on streams
initiated by the receiver if the stream has an identifier higher than the
included last stream identifier": streams above ``last_stream_id`` were not
processed and are safe to send again (:class:`StreamNotProcessedError`,
``retry_safe``); streams at or below it may still complete. A GOAWAY with an
error code other than NO_ERROR ends the connection with an error
(:class:`hyper.exceptions.ConnectionError` carrying the code).

Each case then shows that the next request works: through a
:class:`ConnectionPool`, which opens a new connection to the next script.
"""

from __future__ import annotations

import pytest
from hyperframe.frame import GoAwayFrame

import hyper.exceptions
from faults.support import NEXT_BODY, bounded, h2_get, h2_pool, h2_series, healthy_h2
from h2peer import (
    TYPE_HEADERS,
    ErrorCodes,
    Harness,
    close,
    expect_goaway,
    expect_preface,
    expect_request,
    handshake,
    raw_frame,
    respond,
    send,
    send_data,
    send_goaway,
    send_headers,
    send_raw,
)
from hyper.exceptions import ConnectionClosed, RemoteProtocolError, StreamNotProcessedError

pytestmark = pytest.mark.timeout(60)

ERROR_CODES = [ErrorCodes.PROTOCOL_ERROR, ErrorCodes.INTERNAL_ERROR,
               ErrorCodes.ENHANCE_YOUR_CALM]


def test_goaway_instead_of_the_server_preface(h: Harness) -> None:
    """RFC 9113 section 3.4: the server preface "MUST be the first frame the
    server sends"; anything else is a connection error of type PROTOCOL_ERROR."""
    # (Fed byte by byte, the client may reject the frame from its header and
    # close before the rest is written.)
    goaway = GoAwayFrame(0, last_stream_id=0, error_code=ErrorCodes.NO_ERROR).serialize()
    peer = h2_series(h, [expect_preface(), send_raw(goaway, tolerate_close=True),
                         expect_goaway([ErrorCodes.PROTOCOL_ERROR])], healthy_h2())
    with h2_pool() as pool, bounded():
        with pytest.raises(RemoteProtocolError, match="SETTINGS"):
            h2_get(pool, peer.port)
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


def test_goaway_before_any_request_is_retried_on_a_new_connection(h: Harness) -> None:
    # last_stream_id 0: nothing will be processed on this connection.
    peer = h2_series(h, [handshake(), send_goaway(0)], healthy_h2())
    with h2_pool(retries=1) as pool, bounded():
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


@pytest.mark.parametrize("error_code", [ErrorCodes.NO_ERROR, *ERROR_CODES])
def test_goaway_with_last_stream_id_below_the_request(h: Harness, error_code: int) -> None:
    peer = h2_series(h, [handshake(), expect_request("r"), send_goaway(0, error_code)],
                     healthy_h2())
    with h2_pool() as pool, bounded():
        with pytest.raises(StreamNotProcessedError) as info:
            h2_get(pool, peer.port)
        assert info.value.retry_safe
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


@pytest.mark.parametrize("last", ["at", "above"])
def test_goaway_at_or_above_the_request_lets_it_complete(h: Harness, last: str) -> None:
    peer = h2_series(
        h,
        [handshake(), expect_request("r"),
         send(send_goaway("r" if last == "at" else 101), respond("r", b"completed"))],
        healthy_h2(),
    )
    with h2_pool() as pool, bounded():
        assert h2_get(pool, peer.port).read() == b"completed"
        # The connection is going away: the next request opens another.
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


def test_goaway_mid_body_lets_the_body_complete(h: Harness) -> None:
    peer = h2_series(
        h,
        [handshake(), expect_request("r"),
         send(send_headers("r", [(":status", "200")]), send_data("r", b"first "),
              send_goaway("r"), send_data("r", b"second", end_stream=True))],
        healthy_h2(),
    )
    with h2_pool() as pool, bounded():
        assert h2_get(pool, peer.port).read() == b"first second"
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


def test_goaway_mid_body_then_close_fails_the_body(h: Harness) -> None:
    peer = h2_series(
        h,
        [handshake(), expect_request("r"),
         send(send_headers("r", [(":status", "200")]), send_data("r", b"first "),
              send_goaway("r")),
         close("fin")],
        healthy_h2(),
    )
    with h2_pool() as pool, bounded():
        response = h2_get(pool, peer.port)
        with pytest.raises(ConnectionClosed):
            response.read()
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


@pytest.mark.parametrize("error_code", ERROR_CODES)
@pytest.mark.parametrize("point", ["before-headers", "mid-body"])
def test_goaway_with_an_error_code_fails_the_open_stream(
    h: Harness, error_code: int, point: str,
) -> None:
    steps = [send_headers("r", [(":status", "200")]), send_data("r", b"part")]
    before = steps if point == "mid-body" else []
    peer = h2_series(
        h,
        [handshake(), expect_request("r"), send(*before, send_goaway("r", error_code, b"bye"))],
        healthy_h2(),
    )
    with h2_pool() as pool, bounded():
        with pytest.raises(hyper.exceptions.ConnectionError) as info:
            h2_get(pool, peer.port).read()
        assert info.value.error_code == error_code
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()


def test_goaway_inside_a_header_block_is_a_protocol_error(h: Harness) -> None:
    """RFC 9113 section 6.10: a header block "MUST be followed by a
    CONTINUATION frame"; any other frame is a connection error of type
    PROTOCOL_ERROR."""

    peer = h2_series(
        h,
        [handshake(), expect_request("r"),
         # HEADERS without END_HEADERS (flags 0): ":status 200" as an indexed field.
         send(lambda s: s.queue(raw_frame(TYPE_HEADERS, 0, s.stream("r"), b"\x88")),
              send_goaway("r")),
         expect_goaway([ErrorCodes.PROTOCOL_ERROR])],
        healthy_h2(),
    )
    with h2_pool() as pool, bounded():
        with pytest.raises(RemoteProtocolError):
            h2_get(pool, peer.port).read()
        assert h2_get(pool, peer.port).read() == NEXT_BODY
    h.finish()
