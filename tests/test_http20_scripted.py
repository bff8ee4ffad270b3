"""hyper's HTTP/2 client against a scripted server: ordinary exchanges,
unusual framing and server push.

Every test runs twice: the peer writes each step whole, then one byte per
``send`` (see ``h2peer``). The misbehaving servers are in
``test_http20_scripted_errors.py``; uploads and request validation in
``test_http20_scripted_upload.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
from hyperframe.frame import DataFrame, PingFrame, SettingsFrame, WindowUpdateFrame
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from h2peer import (
    ErrorCodes,
    Harness,
    HeaderBlock,
    PeerSession,
    call,
    expect_frame,
    expect_request,
    expect_rst,
    handshake,
    hget,
    push_headers,
    respond,
    send,
    send_data,
    send_headers,
    send_ping,
    send_push_promise,
)
from hyper import HTTP20Connection, HTTP20Push, HTTP20Response
from hyper.http20.window import BaseFlowControlManager

pytestmark = pytest.mark.timeout(30)



# -- plain exchanges ------------------------------------------------------------------


def test_plain_get(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            respond("r", b"hello", headers=[("content-type", "text/plain")]),
        ]
    )
    conn = h.client(peer)
    sid = conn.request("GET", "/hello")
    resp = conn.get_response(sid)
    assert isinstance(resp, HTTP20Response)
    assert resp.status == 200
    assert hget(resp.headers, "content-type") == b"text/plain"
    assert resp.read() == b"hello"
    h.finish()
    req = peer.requests["r"]
    assert (req.method, req.path, req.scheme) == ("GET", "/hello", "http")
    assert req.authority in (f"127.0.0.1:{peer.port}", "127.0.0.1")
    # A request without a body ends the stream on HEADERS.
    assert req.end_stream
    assert req.stream_id == sid


def test_tls_with_alpn(h: Harness, certs: Any, ssl_context: Any) -> None:
    from h2peer import server_tls_context

    tls = server_tls_context(str(certs.server_cert_path), str(certs.server_key_path))
    peer = h.start([handshake(), expect_request("r"), respond("r", b"over tls")], tls=tls)
    conn = h.track(
        HTTP20Connection("127.0.0.1", peer.port, secure=True, ssl_context=ssl_context, timeout=5)
    )
    sid = conn.request("GET", "/")
    assert conn.get_response(sid).read() == b"over tls"
    h.finish()
    assert peer.alpn == "h2"
    assert peer.requests["r"].scheme == "https"


def _respond_all_interleaved(session: PeerSession) -> None:
    """Answer every request: all HEADERS in reverse order, then the bodies in
    three rounds of one DATA frame per stream."""
    blocks = sorted(session.named.values(), key=lambda b: b.stream_id, reverse=True)
    for block in blocks:
        send_headers(block.stream_id, [(":status", "200"), ("x-path", block.path or "")])(session)
    for round_ in range(3):
        for block in blocks:
            chunk = f"[{block.path}:{round_}]".encode() * 20
            send_data(block.stream_id, chunk, end_stream=round_ == 2)(session)


def expected_body(path: str) -> bytes:
    return b"".join(f"[{path}:{r}]".encode() * 20 for r in range(3))


def test_many_requests_in_flight_read_in_reverse(h: Harness) -> None:
    count = 8
    peer = h.start(
        [handshake(), *[expect_request() for _ in range(count)], call(_respond_all_interleaved)]
    )
    conn = h.client(peer)
    sids = [(conn.request("GET", f"/item/{i}"), f"/item/{i}") for i in range(count)]
    assert len({sid for sid, _ in sids}) == count
    for sid, path in reversed(sids):
        resp = conn.get_response(sid)
        assert hget(resp.headers, "x-path") == path.encode()
        assert resp.read() == expected_body(path)
    h.finish()


def test_get_response_without_stream_id_gives_the_oldest(h: Harness) -> None:
    peer = h.start(
        [handshake(), expect_request(), expect_request(), call(_respond_all_interleaved)]
    )
    conn = h.client(peer)
    conn.request("GET", "/first")
    conn.request("GET", "/second")
    assert conn.get_response().read() == expected_body("/first")
    assert conn.get_response().read() == expected_body("/second")
    h.finish()


@pytest.mark.parametrize(
    "trailers_first", [False, True], ids=["body-then-trailers", "trailers-first"]
)
def test_trailers(h: Harness, trailers_first: bool) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            respond(
                "r",
                [b"part one, ", b"part two"],
                headers=[("trailer", "x-checksum")],
                trailers=[("x-checksum", "abc123"), ("x-other", "1")],
            ),
        ]
    )
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    if trailers_first:
        # hyper 0.7: reading the trailers reads (and keeps) the whole body first.
        trailers = resp.trailers
        body = resp.read()
    else:
        body = resp.read()
        trailers = resp.trailers
    assert body == b"part one, part two"
    assert trailers is not None
    assert hget(trailers, "x-checksum") == b"abc123"
    assert hget(trailers, "x-other") == b"1"
    h.finish()


def test_no_trailers_is_none_or_empty(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x")])
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.read() == b"x"
    assert not resp.trailers
    h.finish()


def _zero_length_body(name: str) -> Any:
    return send(
        send_headers(name, [(":status", "200")]),
        send_data(name, b""),
        send_data(name, b"abc"),
        send_data(name, b""),
        send_data(name, b"def"),
        send_data(name, b""),
        send_data(name, b"", end_stream=True),
    )


def test_zero_length_data_frames(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("a"),
            expect_request("b"),
            _zero_length_body("a"),
            _zero_length_body("b"),
        ]
    )
    conn = h.client(peer)
    first, second = conn.request("GET", "/a"), conn.request("GET", "/b")
    assert conn.get_response(first).read() == b"abcdef"
    chunks = list(conn.get_response(second).read_chunked())
    assert all(isinstance(c, bytes) for c in chunks)
    assert b"".join(chunks) == b"abcdef"
    h.finish()


def test_read_in_small_amounts(h: Harness) -> None:
    body = bytes(range(256)) * 100
    peer = h.start([handshake(), expect_request("r"), respond("r", body)])
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    got = b""
    for _ in range(len(body)):
        piece = resp.read(1000)
        if not piece:
            break
        assert len(piece) <= 1000
        got += piece
    assert got == body
    assert resp.read() == b""
    h.finish()


class CreditEverything(BaseFlowControlManager):
    """Gives back every byte at once, so each WINDOW_UPDATE shows the frame's
    flow-controlled length as hyper counted it."""

    def increase_window_size(self, frame_size: int) -> int:
        return frame_size


PADDED_FRAMES = [(b"x" * 1000, 255), (b"y" * 10, 0), (b"", 100), (b"z" * 300, 7)]
#: RFC 9113 section 6.1: "The entire DATA frame payload is included in flow
#: control, including the Pad Length and Padding fields if present."
PADDED_FLOW_LENGTH = sum(len(data) + 1 + pad for data, pad in PADDED_FRAMES)


def _send_padded_and_check_credit(session: PeerSession) -> None:
    stream_id = session.stream("r")
    # WINDOW_UPDATEs sent before the request (the client's own initial
    # enlargement) are not credit for this body.
    session.pending = [i for i in session.pending if not isinstance(i, WindowUpdateFrame)]
    send_headers(stream_id, [(":status", "200")])(session)
    for index, (data, pad) in enumerate(PADDED_FRAMES):
        send_data(stream_id, data, pad=pad, end_stream=index == len(PADDED_FRAMES) - 1)(session)
    session.flush()
    credited = 0
    while credited < PADDED_FLOW_LENGTH:
        update = session.expect_type(
            WindowUpdateFrame,
            f"connection credit ({credited} of {PADDED_FLOW_LENGTH})",
            lambda f: f.stream_id == 0,
        )
        credited += update.window_increment
    assert credited == PADDED_FLOW_LENGTH, (
        f"credited {credited}, flow-controlled {PADDED_FLOW_LENGTH}"
    )


def test_padded_data_body_and_window_credit(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), call(_send_padded_and_check_credit)])
    conn = h.client(peer, window_manager=CreditEverything)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.read() == b"x" * 1000 + b"y" * 10 + b"z" * 300
    h.finish()


def test_headers_and_trailers_over_continuation(h: Harness) -> None:
    many = [(f"x-h{i}", f"{i}-" + "v" * 100) for i in range(60)]
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(
                send_headers("r", [(":status", "203"), *many], fragment_size=300, pad=17),
                send_data("r", b"body"),
                send_headers("r", [("x-t", "t" * 500)], end_stream=True, fragment_size=64),
            ),
        ]
    )
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.status == 203
    for name, value in many:
        assert hget(resp.headers, name) == value.encode()
    assert resp.read() == b"body"
    assert resp.trailers is not None
    assert hget(resp.trailers, "x-t") == b"t" * 500
    h.finish()


def test_repeated_response_headers_are_kept(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            respond(
                "r", b"", headers=[("set-cookie", "a=1"), ("set-cookie", "b=2"), ("x-one", "1")]
            ),
        ]
    )
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.headers["set-cookie"] == [b"a=1", b"b=2"]
    assert resp.read() == b""
    h.finish()


def test_ping(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_frame(
                PingFrame, 0, lambda f: f.opaque_data == b"12345678" and "ACK" not in f.flags
            ),
            send_ping(b"12345678", ack=True),
            expect_request("r"),
            respond("r", b"after ping"),
        ]
    )
    conn = h.client(peer)
    conn.connect()
    conn.ping(b"12345678")
    assert conn.get_response(conn.request("GET", "/")).read() == b"after ping"
    h.finish()


def test_server_ping_is_acknowledged(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(send_ping(b"srv-ping"), respond("r", b"ok")),
            expect_frame(PingFrame, 0, lambda f: f.opaque_data == b"srv-ping" and "ACK" in f.flags),
        ]
    )
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"ok"
    h.finish()


def test_stream_capacity_follows_max_concurrent_streams(h: Harness) -> None:
    peer = h.start(
        [
            handshake({SettingsFrame.MAX_CONCURRENT_STREAMS: 2}),
            expect_request("warm-up"),
            respond("warm-up", b"ok"),
            expect_request("r"),
            respond("r", b"second"),
        ]
    )
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/warm-up")).read() == b"ok"
    assert conn.stream_capacity() == 2
    sid = conn.request("GET", "/second")
    assert conn.stream_capacity() == 1
    assert conn.get_response(sid).read() == b"second"
    h.finish()


# -- server push ----------------------------------------------------------------------

PUSH_BODY = b"pushed: body { color: red }"


def _promise(parent: str, promised: int, path: str, authority: str | None = None) -> Any:
    def headers(session: PeerSession) -> list[tuple[str, str]]:
        return [*push_headers(session.named[parent], path, authority), ("x-push", path)]

    return send_push_promise(parent, promised, headers)


def _main_response_with_push_at(position: str) -> Any:
    """The response to "r", with a PUSH_PROMISE for stream 2 at ``position``."""
    parts: list[Any] = []
    if position == "before-headers":
        parts.append(_promise("r", 2, "/style.css"))
    parts.append(send_headers("r", [(":status", "200")]))
    if position == "between-headers-and-data":
        parts.append(_promise("r", 2, "/style.css"))
    parts.append(send_data("r", b"main "))
    if position == "mid-body":
        parts.append(_promise("r", 2, "/style.css"))
    parts.append(send_data("r", b"body"))
    if position == "before-trailers":
        parts.append(_promise("r", 2, "/style.css"))
    parts.append(send_headers("r", [("x-trailer", "end")], end_stream=True))
    return send(*parts)


PUSH_POSITIONS = ["before-headers", "between-headers-and-data", "mid-body", "before-trailers"]


def check_push(push: Any, peer_request: HeaderBlock, path: str) -> None:
    assert isinstance(push, HTTP20Push)
    assert push.method == b"GET"
    assert push.scheme == b"http"
    assert push.authority == (peer_request.authority or "").encode()
    assert push.path == path.encode()
    assert hget(push.request_headers, "x-push") == path.encode()


@pytest.mark.parametrize("position", PUSH_POSITIONS)
def test_push_promise_at_every_point(h: Harness, position: str) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            _main_response_with_push_at(position),
            respond(2, PUSH_BODY, headers=[("content-type", "text/css")]),
        ]
    )
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    resp = conn.get_response(sid)
    assert resp.read() == b"main body"
    pushes = list(conn.get_pushes(sid))
    assert len(pushes) == 1
    check_push(pushes[0], peer.requests["r"], "/style.css")
    pushed = pushes[0].get_response()
    assert pushed.status == 200
    assert hget(pushed.headers, "content-type") == b"text/css"
    assert pushed.read() == PUSH_BODY
    # Not idempotent: a promise is handed out once.
    assert list(conn.get_pushes(sid)) == []
    h.finish()
    assert peer.client_settings.get(SettingsFrame.ENABLE_PUSH, 1) == 1


def test_get_pushes_capture_all_waits_for_the_stream_end(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(
                _promise("r", 2, "/one.js"),
                send_headers("r", [(":status", "200")]),
                send_data("r", b"a"),
                _promise("r", 4, "/two.js"),
                send_data("r", b"b", end_stream=True),
            ),
            respond(2, b"one"),
            respond(4, b"two"),
        ]
    )
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    pushes = list(conn.get_pushes(sid, capture_all=True))
    assert [p.path for p in pushes] == [b"/one.js", b"/two.js"]
    # The main response was buffered meanwhile.
    assert conn.get_response(sid).read() == b"ab"
    assert [p.get_response().read() for p in reversed(pushes)] == [b"two", b"one"]
    h.finish()


def test_push_cancel_sends_rst_cancel(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(_promise("r", 2, "/cached.css"), respond("r", b"main")),
            expect_rst(2, [ErrorCodes.CANCEL]),
            # Sent as if already in flight when the reset arrived: the client
            # must ignore it (RFC 9113 section 5.1, "closed" state).
            respond(2, b"too late"),
            expect_request("again"),
            respond("again", b"still fine"),
        ]
    )
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    assert conn.get_response(sid).read() == b"main"
    (push,) = list(conn.get_pushes(sid))
    push.cancel()
    assert conn.get_response(conn.request("GET", "/again")).read() == b"still fine"
    h.finish()


def test_push_from_another_authority_is_refused(h: Harness) -> None:
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(
                _promise("r", 2, "/evil.js", authority="evil.example"),
                _promise("r", 4, "/good.js"),
                respond("r", b"main"),
            ),
            # RFC 9113 section 8.4: "A client MUST treat a PUSH_PROMISE for
            # which the server is not authoritative as a stream error ... of
            # type PROTOCOL_ERROR"; REFUSED_STREAM or CANCEL also end it.
            expect_rst(
                2, [ErrorCodes.PROTOCOL_ERROR, ErrorCodes.REFUSED_STREAM, ErrorCodes.CANCEL]
            ),
            respond(4, b"good"),
        ]
    )
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    assert conn.get_response(sid).read() == b"main"
    pushes = list(conn.get_pushes(sid))
    assert [p.path for p in pushes] == [b"/good.js"]
    assert pushes[0].get_response().read() == b"good"
    h.finish()


def test_push_disabled_is_advertised(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x")])
    conn = h.client(peer)  # enable_push defaults to False
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    h.finish()
    assert peer.client_settings.get(SettingsFrame.ENABLE_PUSH) == 0


def test_unread_push_does_not_block_other_streams(h: Harness) -> None:
    body = b"p" * 40000
    peer = h.start(
        [
            handshake(),
            expect_request("r"),
            send(_promise("r", 2, "/big"), respond("r", b"main"), respond(2, body)),
            expect_request("next"),
            respond("next", b"next"),
        ]
    )
    conn = h.client(peer, enable_push=True)
    sid = conn.request("GET", "/")
    assert conn.get_response(sid).read() == b"main"
    assert conn.get_response(conn.request("GET", "/next")).read() == b"next"
    (push,) = list(conn.get_pushes(sid))
    assert push.get_response().read() == body
    h.finish()


def test_bodiless_get_sends_no_data_frame(h: Harness) -> None:
    """A bodiless GET sends no DATA frame at all."""
    peer = h.start([handshake(), expect_request("r"), respond("r", b"")])
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b""
    h.finish()
    assert peer.frames_of(DataFrame) == []


def test_connection_usable_after_exchange(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x")])
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    assert conn.is_usable()
    assert conn.is_idle()
    h.finish()


def test_exhausted_response_reads_empty(h: Harness) -> None:
    peer = h.start([handshake(), expect_request("r"), respond("r", b"once")])
    conn = h.client(peer)
    resp = conn.get_response(conn.request("GET", "/"))
    assert resp.read() == b"once"
    assert resp.read() == b""
    assert resp.read(10) == b""
    h.finish()


# -- any framing ------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    feed=st.sampled_from(["whole", "bytewise"]),
    frames=st.lists(
        st.tuples(st.binary(max_size=2000), st.one_of(st.none(), st.integers(0, 255))),
        max_size=8,
    ),
    fragment=st.integers(8, 300),
    with_trailers=st.booleans(),
)
def test_any_framing_of_a_response(
    feed: str, frames: list[tuple[bytes, int | None]], fragment: int, with_trailers: bool
) -> None:
    """However the body is cut into (padded, empty) DATA frames and the
    headers into CONTINUATIONs, hyper reads the same response."""
    parts: list[Any] = [
        send_headers("r", [(":status", "200"), ("x-a", "b" * 300)], fragment_size=fragment)
    ]
    for index, (data, pad) in enumerate(frames):
        last = index == len(frames) - 1 and not with_trailers
        parts.append(send_data("r", data, pad=pad, end_stream=last))
    if with_trailers or not frames:
        parts.append(send_headers("r", [("x-t", "1")], end_stream=True, fragment_size=fragment))
    harness = Harness(feed)
    try:
        peer = harness.start([handshake(), expect_request("r"), send(*parts)])
        conn = harness.client(peer)
        resp = conn.get_response(conn.request("GET", "/"))
        assert hget(resp.headers, "x-a") == b"b" * 300
        assert resp.read() == b"".join(data for data, _ in frames)
        harness.finish()
    finally:
        harness.teardown()
