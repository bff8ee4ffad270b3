"""Nothing leaks: a response dropped unread gives its stream back, a failed
connection is not opened a second time behind the user's back, and close()
releases every socket. Sockets are counted in /proc/self/fd."""

from __future__ import annotations

import gc
import os
import ssl
import threading
from typing import Any

import pytest

import hyper.http20.connection
from h2peer import (
    ErrorCodes,
    Harness,
    expect_request,
    expect_rst,
    handshake,
    raw_frame,
    respond,
    send,
    send_data,
    send_headers,
    send_raw,
)
from hyper import HTTPConnection
from hyper.exceptions import HyperError

pytestmark = pytest.mark.timeout(60)


def open_sockets() -> int:
    count = 0
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed meanwhile (the listing's own descriptor)
    return count


def test_collected_response_resets_its_stream(h: Harness) -> None:
    peer = h.start([
        handshake(),
        expect_request("a"),
        send(send_headers("a", [(":status", "200")]), send_data("a", b"part of it")),
        expect_rst("a", [ErrorCodes.CANCEL]),
        expect_request("b"),
        respond("b", b"next"),
    ])
    conn = h.client(peer)
    first = conn.request("GET", "/a")
    response = conn.get_response(first)
    del response
    gc.collect()
    # The next locked section resets the stream and frees its buffers.
    assert conn.get_response(conn.request("GET", "/b")).read() == b"next"
    assert first not in conn._state.streams
    assert conn.is_idle()
    h.finish()


def test_protocol_error_opens_no_second_connection(h: Harness,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """After the server broke the protocol, later requests fail (safe to
    retry: not sent) instead of quietly opening a socket that stays open
    until close()."""
    opened: list[object] = []
    real_open = hyper.http20.connection.open_transport

    def counting_open(*args: Any, **kwargs: Any) -> Any:
        opened.append(args)
        return real_open(*args, **kwargs)

    monkeypatch.setattr(hyper.http20.connection, "open_transport", counting_open)
    before = open_sockets()
    peer = h.start([
        handshake(),
        expect_request("a"),
        send_raw(raw_frame(0x0, 0x0, 0, b"DATA on stream 0"), tolerate_close=True),
    ])
    conn = h.client(peer)
    first = conn.request("GET", "/a")
    with pytest.raises(HyperError):
        conn.get_response(first)
    for _ in range(3):
        with pytest.raises(HyperError) as info:
            conn.request("GET", "/again")
        assert info.value.retry_safe
    assert len(opened) == 1
    # The failed connection's socket is closed already (the peer, in this
    # process too, sees the end and finishes), and no other opened.
    peer.join()
    assert open_sockets() == before
    h.finish()


def test_close_releases_every_socket(start_nginx: Any, ssl_context: ssl.SSLContext) -> None:
    """Several reconnects, responses left unread on ended connections: close()
    closes them all, and no thread is left behind."""
    server = start_nginx("keepalive_requests 2;")
    gc.collect()
    sockets, threads = open_sockets(), threading.active_count()
    conn = HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                          timeout=15)
    kept = [conn.get_response(conn.request("GET", "/small.txt")) for _ in range(7)]
    assert conn._generation >= 3
    assert open_sockets() > sockets
    conn.close()
    assert open_sockets() == sockets
    assert threading.active_count() == threads
    del kept


def test_unread_responses_of_ended_connections_are_closed_when_read(
        start_nginx: Any, ssl_context: ssl.SSLContext) -> None:
    server = start_nginx("keepalive_requests 2;")
    sockets = open_sockets()
    with HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                        timeout=15) as conn:
        kept = [conn.get_response(conn.request("GET", "/small.txt")) for _ in range(6)]
        for response in kept:
            response.read()
        # Only the current connection stays open: its socket and the pair
        # that wakes its reader.
        assert open_sockets() == sockets + 3
