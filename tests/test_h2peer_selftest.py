"""Tests of the scripted HTTP/2 peer itself, driven by h2's own client.

h2 is an independent implementation: if it accepts what the peer sends and
the peer records what h2 sent, the peer can be trusted to judge hyper.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Callable, Iterator

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import pytest
import trustme
from hyperframe.frame import DataFrame, PingFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame

from h2peer import (
    ErrorCodes,
    HeaderBlock,
    PeerError,
    ScriptedPeer,
    Step,
    call,
    close,
    expect_frame,
    expect_goaway,
    expect_request,
    expect_rst,
    expect_settings_ack,
    handshake,
    push_headers,
    raw_frame,
    respond,
    send,
    send_data,
    send_goaway,
    send_headers,
    send_ping,
    send_push_promise,
    send_raw,
    send_rst,
    send_window_update,
    wait_event,
)

FEEDS = ["whole", "bytewise"]


class H2Client:
    """A minimal blocking client on h2, to exercise the peer."""

    def __init__(self, port: int, tls: ssl.SSLContext | None = None) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.sock: socket.socket = (
            tls.wrap_socket(sock, server_hostname="localhost") if tls else sock
        )
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.flush()
        self.events: list[h2.events.Event] = []

    def flush(self) -> None:
        self.sock.sendall(self.h2.data_to_send())

    def get(self, path: str, authority: str = "127.0.0.1") -> int:
        stream_id = self.h2.get_next_available_stream_id()
        headers = [
            (":method", "GET"),
            (":scheme", "http"),
            (":authority", authority),
            (":path", path),
        ]
        self.h2.send_headers(stream_id, headers, end_stream=True)
        self.flush()
        return stream_id

    def until(self, done: Callable[[list[h2.events.Event]], bool]) -> list[h2.events.Event]:
        while not done(self.events):
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("peer closed")
            self.events.extend(self.h2.receive_data(data))
            self.flush()
        return self.events

    def until_ended(self, stream_id: int) -> list[h2.events.Event]:
        return self.until(
            lambda evs: any(
                isinstance(e, h2.events.StreamEnded) and e.stream_id == stream_id for e in evs
            )
        )

    def body(self, stream_id: int) -> bytes:
        return b"".join(
            e.data
            for e in self.events
            if isinstance(e, h2.events.DataReceived) and e.stream_id == stream_id
        )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(params=FEEDS)
def feed(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def peers() -> Iterator[list[ScriptedPeer]]:
    started: list[ScriptedPeer] = []
    yield started
    for peer in started:
        peer.abort()
        peer.join(raise_error=False)


def start(peers: list[ScriptedPeer], script: list[Step], **kwargs: object) -> ScriptedPeer:
    peer = ScriptedPeer(script, **kwargs)  # type: ignore[arg-type]
    peers.append(peer)
    return peer.start()


def test_request_response_with_continuation_and_trailers(
    peers: list[ScriptedPeer], feed: str
) -> None:
    many = [(f"x-h{i}", "v" * 50) for i in range(40)]
    peer = start(
        peers,
        [
            handshake(),
            expect_request("r", path="/a"),
            send(
                send_headers("r", [(":status", "200"), *many], fragment_size=100),
                send_data("r", b"hello "),
                send_data("r", b"", pad=0),
                send_data("r", b"world", pad=200),
                send_headers("r", [("x-trailer", "yes")], end_stream=True, fragment_size=3),
            ),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    sid = client.get("/a")
    events = client.until_ended(sid)
    client.close()
    peer.join()
    response = next(e for e in events if isinstance(e, h2.events.ResponseReceived))
    assert response.headers[0] == (b":status", b"200")
    assert (b"x-h39", b"v" * 50) in response.headers
    assert client.body(sid) == b"hello world"
    flow = sum(e.flow_controlled_length for e in events if isinstance(e, h2.events.DataReceived))
    assert flow == len(b"hello world") + 1 + (200 + 1)
    trailers = next(e for e in events if isinstance(e, h2.events.TrailersReceived))
    assert trailers.headers == [(b"x-trailer", b"yes")]
    block = peer.requests["r"]
    assert isinstance(block, HeaderBlock)
    assert (block.stream_id, block.method, block.path, block.end_stream) == (1, "GET", "/a", True)
    assert peer.client_settings == dict(client.h2.local_settings.items()) or peer.client_settings
    assert isinstance(peer.frames[0], SettingsFrame)


def test_records_client_frames_in_any_order(peers: list[ScriptedPeer], feed: str) -> None:
    peer = start(
        peers,
        [
            handshake(wait_ack=True),
            expect_request("r"),
            # Sent by the client before RST_STREAM, matched after it.
            expect_rst("r", [ErrorCodes.CANCEL]),
            expect_frame(
                PingFrame, pred=lambda f: f.opaque_data == b"abcdefgh" and "ACK" not in f.flags
            ),
            expect_frame(WindowUpdateFrame, 0),
            send_ping(b"abcdefgh", ack=True),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    sid = client.get("/")
    client.h2.ping(b"abcdefgh")
    client.h2.increment_flow_control_window(1000)
    client.h2.reset_stream(sid, ErrorCodes.CANCEL)
    client.flush()
    client.until(lambda evs: any(isinstance(e, h2.events.PingAckReceived) for e in evs))
    client.close()
    peer.join()
    assert [type(f).__name__ for f in peer.frames_of(RstStreamFrame)] == ["RstStreamFrame"]
    assert peer.frames_of(WindowUpdateFrame, 0)[0].window_increment == 1000


def test_push_promise_and_second_stream(peers: list[ScriptedPeer], feed: str) -> None:
    peer = start(
        peers,
        [
            handshake(),
            expect_request("r"),
            send(
                send_push_promise(
                    "r", 2, lambda s: push_headers(s.named["r"], "/pushed"), fragment_size=5
                ),
                respond("r", b"main"),
                respond(2, [b"pu", b"shed"], headers=[("x-p", "1")]),
            ),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    sid = client.get("/", authority="example.test")
    client.until(lambda evs: sum(isinstance(e, h2.events.StreamEnded) for e in evs) == 2)
    client.close()
    peer.join()
    push = next(e for e in client.events if isinstance(e, h2.events.PushedStreamReceived))
    assert push.pushed_stream_id == 2
    assert push.headers is not None
    assert (b":authority", b"example.test") in push.headers
    assert (b":path", b"/pushed") in push.headers
    assert client.body(sid) == b"main"
    assert client.body(2) == b"pushed"


def test_large_body_is_split_at_max_frame_size(peers: list[ScriptedPeer]) -> None:
    body = bytes(range(256)) * 200  # 51,200 bytes, within the default window
    peer = start(peers, [handshake(), expect_request("r"), respond("r", body)])
    client = H2Client(peer.port)
    sid = client.get("/")
    client.until_ended(sid)
    client.close()
    peer.join()
    sizes = [len(e.data) for e in client.events if isinstance(e, h2.events.DataReceived)]
    assert client.body(sid) == body
    assert max(sizes) <= 16384


def test_goaway_and_rst_reach_the_client(peers: list[ScriptedPeer], feed: str) -> None:
    peer = start(
        peers,
        [
            handshake(),
            expect_request("a"),
            expect_request("b"),
            # h2 closes its connection on any GOAWAY (h2 issue 1181), so the
            # response goes first here.
            respond("a", b"ok"),
            send(
                send_rst("b", ErrorCodes.REFUSED_STREAM),
                send_goaway("a", ErrorCodes.NO_ERROR, b"bye"),
            ),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    first, second = client.get("/a"), client.get("/b")
    client.until(lambda evs: any(isinstance(e, h2.events.ConnectionTerminated) for e in evs))
    client.close()
    peer.join()
    assert client.body(first) == b"ok"
    reset = next(e for e in client.events if isinstance(e, h2.events.StreamReset))
    assert (reset.stream_id, reset.error_code) == (second, ErrorCodes.REFUSED_STREAM)
    goaway = next(e for e in client.events if isinstance(e, h2.events.ConnectionTerminated))
    assert (goaway.last_stream_id, goaway.error_code, goaway.additional_data) == (first, 0, b"bye")


def test_raw_frame_matches_hyperframe() -> None:
    frame = DataFrame(3, b"abc")
    frame.flags.add("END_STREAM")
    assert raw_frame(0x0, 0x1, 3, b"abc") == frame.serialize()
    assert raw_frame(0x6, 0, 0, b"", length=8)[:3] == b"\x00\x00\x08"


def test_raw_invalid_frame_makes_h2_fail_and_goaway_is_recorded(
    peers: list[ScriptedPeer], feed: str
) -> None:
    peer = start(
        peers,
        [
            handshake(),
            expect_request("r"),
            send_raw(raw_frame(0x0, 0, 0, b"data on stream zero"), tolerate_close=True),
            expect_goaway([ErrorCodes.PROTOCOL_ERROR]),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    client.get("/")
    with pytest.raises(h2.exceptions.ProtocolError):
        client.until(lambda evs: False)
    client.flush()  # h2 queued its GOAWAY
    client.close()
    peer.join()


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_close(peers: list[ScriptedPeer], how: str) -> None:
    peer = start(
        peers,
        [handshake(), expect_request("r"), send_headers("r", [(":status", "200")]), close(how)],
    )
    client = H2Client(peer.port)
    client.get("/")
    if how == "fin":
        with pytest.raises(EOFError):
            client.until(lambda evs: False)
    else:
        with pytest.raises((ConnectionResetError, EOFError)):
            client.until(lambda evs: False)
            client.until(lambda evs: False)
    client.close()
    peer.join()


def test_failed_expectation_is_reraised(peers: list[ScriptedPeer]) -> None:
    peer = ScriptedPeer([handshake(), expect_request("r", path="/never")], step_timeout=0.5)
    peers.append(peer)
    # Connected and sent before the peer runs, so that only the last step
    # can run out of its short time, however late this thread gets to run.
    client = H2Client(peer.port)
    client.get("/other")
    peer.start()
    with pytest.raises(PeerError, match="timed out waiting for a request HEADERS for /never"):
        peer.join()
    client.close()


def test_client_closing_early_is_reported(peers: list[ScriptedPeer]) -> None:
    peer = start(peers, [handshake(), expect_request("r")])
    client = H2Client(peer.port)
    client.close()
    with pytest.raises(PeerError, match="closed the connection before sending a request"):
        peer.join()


def test_client_that_never_closes_is_reported(peers: list[ScriptedPeer]) -> None:
    peer = start(peers, [handshake()], close_timeout=0.5)
    client = H2Client(peer.port)
    with pytest.raises(PeerError, match="did not close the connection"):
        peer.join()
    client.close()


def test_bad_preface_is_reported(peers: list[ScriptedPeer]) -> None:
    peer = start(peers, [handshake()])
    sock = socket.create_connection(("127.0.0.1", peer.port), timeout=5)
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises(PeerError, match="preface"):
        peer.join()
    sock.close()


def test_unknown_stream_name_is_a_script_error(peers: list[ScriptedPeer]) -> None:
    peer = start(peers, [handshake(), send_data("nope", b"")])
    client = H2Client(peer.port)
    with pytest.raises(PeerError, match="no request named 'nope'"):
        peer.join()
    client.close()


def test_exception_in_custom_step_is_reraised(peers: list[ScriptedPeer]) -> None:
    def boom(session: object) -> None:
        raise ValueError("boom")

    peer = start(peers, [handshake(), call(boom)])
    client = H2Client(peer.port)
    with pytest.raises(PeerError, match="boom"):
        peer.join()
    client.close()


def test_wait_event_and_window_update(peers: list[ScriptedPeer], feed: str) -> None:
    go = threading.Event()
    peer = start(
        peers,
        [
            handshake(
                {SettingsFrame.INITIAL_WINDOW_SIZE: 100, SettingsFrame.MAX_CONCURRENT_STREAMS: 7}
            ),
            expect_settings_ack(),
            wait_event(go),
            send_window_update(0, 5000),
        ],
        feed=feed,
    )
    client = H2Client(peer.port)
    client.until(
        lambda evs: (
            any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs)
            and client.h2.remote_settings.max_concurrent_streams == 7
        )
    )
    assert client.h2.remote_settings.initial_window_size == 100
    go.set()
    client.until(lambda evs: any(isinstance(e, h2.events.WindowUpdated) for e in evs))
    assert client.h2.outbound_flow_control_window == 65535 + 5000
    client.close()
    peer.join()


def test_tls_with_alpn(peers: list[ScriptedPeer], feed: str) -> None:
    ca = trustme.CA()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    client_ctx.set_alpn_protocols(["h2"])
    peer = start(
        peers,
        [handshake(), expect_request("r"), respond("r", b"secure"), close("fin")],
        feed=feed,
        tls=server_ctx,
    )
    client = H2Client(peer.port, tls=client_ctx)
    sid = client.get("/")
    client.until_ended(sid)
    client.close()
    peer.join()
    assert peer.alpn == "h2"
    assert client.body(sid) == b"secure"
