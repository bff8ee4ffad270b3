"""A body of unknown length streams as it arrives: ``iter_lines()`` on an
event stream yields each event when it comes, as HTTPAdapter does for a
chunked HTTP/1.1 body, and over HTTP/2 too. The scripted server sends one
event and then waits for the test, so a client that waited for more bytes
would never see the first event (the peer's wait is bounded)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from h2peer import Harness, call, expect_request, handshake, send_data, send_headers
from hyper.contrib import HTTP20Adapter
from hyper.contrib._raw import BodyReader
from tcppeer import head, reply, wait

pytestmark = pytest.mark.timeout(60)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


@pytest.mark.parametrize("adapter_class", [HTTPAdapter, HTTP20Adapter])
def test_chunked_event_stream_yields_each_event_as_it_comes(
    adapter_class: type[HTTPAdapter], tcp_peers: Any,
) -> None:
    go_on = threading.Event()
    peer = tcp_peers([head(), reply(CHUNKED_HEAD + chunk(b"event: one\n")), wait(go_on),
                      reply(chunk(b"event: two\n") + b"0\r\n\r\n")])
    with requests.Session() as session:
        session.mount("http://", adapter_class())
        r = session.get(f"http://127.0.0.1:{peer.port}/events", stream=True, timeout=10)
        lines = r.iter_lines()
        assert next(lines) == b"event: one"
        go_on.set()
        assert list(lines) == [b"event: two"]


@pytest.fixture
def peers() -> Iterator[Harness]:
    harness = Harness("whole")
    yield harness
    harness.teardown()


def test_http2_event_stream_yields_each_event_as_it_comes(peers: Harness) -> None:
    go_on = threading.Event()
    peer = peers.start([
        handshake(), expect_request("r"),
        send_headers("r", [(":status", "200"), ("content-type", "text/event-stream")]),
        send_data("r", b"event: one\n"),
        call(lambda session: session.flush()),
        call(lambda session: go_on.wait(10)),
        send_data("r", b"event: two\n", end_stream=True),
    ])
    with requests.Session() as session:
        session.mount("http://", HTTP20Adapter(h2c="prior-knowledge"))
        r = session.get(f"http://127.0.0.1:{peer.port}/events", stream=True, timeout=10)
        lines = r.iter_lines()
        assert next(lines) == b"event: one"
        go_on.set()
        assert list(lines) == [b"event: two"]
        assert r.raw.version == 20
    peers.finish()


def test_a_known_length_body_streams_amt_bytes_at_a_time(tcp_peers: Any) -> None:
    body = b"0123456789" * 100
    peer = tcp_peers([head(), reply(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body)])
    with requests.Session() as session:
        session.mount("http://", HTTP20Adapter(h2c="off"))
        r = session.get(f"http://127.0.0.1:{peer.port}/", stream=True, timeout=10)
        assert [len(c) for c in r.iter_content(300)] == [300, 300, 300, 100]
    assert peer.connections == 1


class Pieces:
    """A stand-in for a hyper response that hands out given pieces."""

    def __init__(self, *pieces: bytes) -> None:
        self.pieces = list(pieces)
        self.closed = False

    def read_chunked(self, decode_content: bool = True) -> Iterator[bytes]:
        assert decode_content is False
        while self.pieces:
            yield self.pieces.pop(0)
        self.closed = True

    def close(self) -> None:
        self.closed = True


def test_body_reader_reads_across_pieces_and_keeps_the_rest() -> None:
    reader = BodyReader(Pieces(b"abc", b"", b"defg", b"h"))  # type: ignore[arg-type]
    assert reader.read1(2) == b"ab"
    assert reader.read(3) == b"cde"
    assert reader.read1() == b"fg"
    assert not reader.closed
    assert reader.read(0) == b"" and reader.read1(0) == b""
    assert reader.read() == b"h"
    assert (reader.read(5), reader.read1(5), reader.isclosed()) == (b"", b"", True)
    reader = BodyReader(Pieces(b"whole", b"rest"))  # type: ignore[arg-type]
    assert reader.read(-1) == b"wholerest"
    reader = BodyReader(Pieces(b"abc"))  # type: ignore[arg-type]
    assert reader.read1(1) == b"a"
    reader.close()
    assert reader.closed
