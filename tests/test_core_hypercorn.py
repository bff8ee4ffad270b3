"""The core connections against a real server: hypercorn on loopback."""

from __future__ import annotations

import gzip
import io
import json
import logging
import socket
import ssl
import threading
import time
import zlib
from typing import Any, ClassVar

import pytest

import hyper
import hyper.tls
from hyper import HTTP11Connection, HTTP20Connection, HTTPConnection
from hyper.exceptions import (
    ConnectError,
    ConnectionClosed,
    ConnectTimeout,
    HyperError,
    InvalidHeaderError,
    ReadTimeout,
    TLSError,
)
from hyper.http20.window import FlowControlManager


def tls(server: Any, ssl_context: ssl.SSLContext, **kwargs: Any) -> HTTPConnection:
    return HTTPConnection(server.host, server.port, secure=True, ssl_context=ssl_context,
                          timeout=10, **kwargs)


def as_json(body: bytes) -> Any:
    return json.loads(body.decode("utf-8"))


# -- protocol negotiation ------------------------------------------------------


def test_alpn_picks_h2_and_multiplexes(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        ids = [conn.request("GET", f"/token/t{i}") for i in range(6)]
        assert ids == [1, 3, 5, 7, 9, 11]
        assert conn.negotiated_protocol == "h2"
        # Read in reverse order: each response must match its own request.
        for i, stream_id in reversed(list(enumerate(ids))):
            resp = conn.get_response(stream_id)
            assert resp.version == 20
            assert resp.status == 200
            assert resp.reason == ""
            assert resp.headers[b"x-token"] == [f"t{i}".encode()]
            assert resp.read() == f"t{i}".encode()


def test_alpn_falls_back_to_http11(h1_tls_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h1_tls_server, ssl_context) as conn:
        assert conn.request("GET", "/get") is None
        assert conn.negotiated_protocol == "http/1.1"
        resp = conn.get_response()
        assert resp.version == 11
        assert isinstance(resp.reason, str)  # hypercorn sends an empty phrase
        assert as_json(resp.read())["http_version"] == "1.1"


def test_h2c_upgrade_switches_to_http2(h2c_server: Any) -> None:
    with HTTPConnection(h2c_server.host, h2c_server.port, timeout=10) as conn:
        assert conn.version is None
        first = conn.request("GET", "/token/first")
        assert first == 1
        assert conn.negotiated_protocol == "h2c"
        second = conn.request("GET", "/token/second")
        assert conn.get_response(second).read() == b"second"
        assert conn.get_response(first).read() == b"first"


def test_h2c_upgrade_declined_keeps_http11(h1_server: Any) -> None:
    with HTTPConnection(h1_server.host, h1_server.port, timeout=10) as conn:
        assert conn.request("GET", "/token/one") is None
        assert conn.negotiated_protocol == "http/1.1"
        assert conn.get_response().read() == b"one"
        assert conn.request("GET", "/token/two") is None
        assert conn.get_response().read() == b"two"


def test_first_request_with_body_skips_upgrade(h2c_server: Any) -> None:
    with HTTPConnection(h2c_server.host, h2c_server.port, timeout=10) as conn:
        assert conn.request("POST", "/echo", body=b"data") is None
        assert conn.get_response().read() == b"data"


def test_h2c_prior_knowledge(h2c_server: Any) -> None:
    with HTTP20Connection(h2c_server.host, h2c_server.port, secure=False, timeout=10) as conn:
        stream_id = conn.request("GET", "/get")
        body = as_json(conn.get_response(stream_id).read())
        assert body["http_version"] == "2"


def test_host_may_carry_the_port(h2c_server: Any) -> None:
    conn = HTTPConnection(f"{h2c_server.host}:{h2c_server.port}", h2c="prior-knowledge",
                          timeout=10)
    with conn:
        assert conn.get_response(conn.request("GET", "/token/x")).read() == b"x"


def test_http20connection_refuses_a_server_without_h2(
    h1_tls_server: Any, ssl_context: ssl.SSLContext
) -> None:
    conn = HTTP20Connection(h1_tls_server.host, h1_tls_server.port, secure=True,
                            ssl_context=ssl_context, timeout=10)
    with pytest.raises(ConnectError, match="ALPN"):
        conn.connect()


# -- bodies ----------------------------------------------------------------------


BODIES: dict[str, tuple[Any, bytes]] = {
    "bytes": (lambda: b"bytes body", b"bytes body"),
    "str": (lambda: "str body \u00e9", "str body \u00e9".encode()),
    "file": (lambda: io.BytesIO(b"file body"), b"file body"),
    "iterable": (lambda: iter([b"it", b"er", "able"]), b"iterable"),
}


@pytest.mark.parametrize("kind", sorted(BODIES))
@pytest.mark.parametrize("protocol", ["h2", "http/1.1"])
def test_request_bodies(
    protocol: str, kind: str, h2_server: Any, h1_tls_server: Any, ssl_context: ssl.SSLContext
) -> None:
    server = h2_server if protocol == "h2" else h1_tls_server
    make, expected = BODIES[kind]
    with tls(server, ssl_context) as conn:
        stream_id = conn.request("POST", "/echo", body=make())
        resp = conn.get_response(stream_id)
        assert resp.read() == expected
        assert resp.headers[b"x-body-length"] == [str(len(expected)).encode()]


def test_large_upload_respects_flow_control(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    data = bytes(range(256)) * 12289  # ~3 MiB, above hypercorn's 64 KiB windows
    with tls(h2_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("PUT", "/echo", body=data))
        assert resp.read() == data


def test_http11_keep_alive_reuses_the_socket(h1_server: Any) -> None:
    conn = HTTP11Connection(h1_server.host, h1_server.port, timeout=10)
    with conn:
        conn.request("GET", "/token/a")
        assert conn.get_response().read() == b"a"
        sock = conn._sock
        conn.request("GET", "/token/b")
        assert conn.get_response().read() == b"b"
        assert conn._sock is sock


# -- responses -------------------------------------------------------------------


@pytest.mark.parametrize("coding", ["gzip", "deflate", "brotli", "zstd"])
@pytest.mark.parametrize("protocol", ["h2", "http/1.1"])
def test_content_decoding(
    coding: str, protocol: str, h2_server: Any, h1_tls_server: Any,
    ssl_context: ssl.SSLContext,
) -> None:
    server = h2_server if protocol == "h2" else h1_tls_server
    with tls(server, ssl_context) as conn:
        resp = conn.get_response(conn.request("GET", f"/{coding}"))
        assert as_json(resp.read())[coding] is True
        raw = conn.get_response(conn.request("GET", f"/{coding}")).read(decode_content=False)
        if coding == "gzip":
            assert as_json(gzip.decompress(raw))[coding] is True
        elif coding == "deflate":
            assert as_json(zlib.decompress(raw))[coding] is True
        else:
            assert not raw.startswith(b"{")


def test_read_in_pieces_and_chunked(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        whole = conn.get_response(conn.request("GET", "/bytes/300000")).read()
        resp = conn.get_response(conn.request("GET", "/bytes/300000"))
        parts = [resp.read(1000)]
        while not resp.closed:
            parts.append(resp.read(77777))
        assert b"".join(parts) == whole
        assert resp.read() == b""
        chunks = list(conn.get_response(conn.request("GET", "/stream/300000")).read_chunked())
        assert len(chunks) > 1
        assert b"".join(chunks) == whole
        assert b"".join(conn.get_response(conn.request("GET", "/bytes/300000"))) == whole


def test_trailers(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("GET", "/trailers", headers={"te": "trailers"}))
        trailers = resp.trailers
        assert trailers is not None
        assert len(list(trailers.iter_raw())) >= 1
        assert resp.read()


def test_release_callback_runs_once(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    calls: list[str] = []
    with tls(h2_server, ssl_context) as conn:
        resp = conn.get_response(conn.request("GET", "/bytes/10"))
        resp.add_release_callback(lambda: calls.append("released"))
        assert calls == []
        resp.read()
        resp.close()
        assert calls == ["released"]
        resp.add_release_callback(lambda: calls.append("late"))
        assert calls == ["released", "late"]


def test_closing_one_response_leaves_others(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        big = conn.request("GET", "/bytes/50000000")
        small = conn.request("GET", "/token/still-here")
        resp = conn.get_response(big)
        resp.read(10)
        resp.close()
        assert conn.get_response(small).read() == b"still-here"
        assert conn.get_response(conn.request("GET", "/token/after")).read() == b"after"


def test_server_push(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context, enable_push=True) as conn:
        stream_id = conn.request("GET", "/push")
        resp = conn.get_response(stream_id)
        assert resp.read() == b"pushed a and b\n"
        pushes = {p.path: p for p in conn.get_pushes(stream_id, capture_all=True)}
        assert set(pushes) == {b"/pushed/a", b"/pushed/b"}
        push = pushes[b"/pushed/a"]
        assert push.method == b"GET"
        assert push.scheme == b"https"
        assert push.get_response().status == 200
        pushes[b"/pushed/b"].cancel()


def test_pushes_are_off_by_default(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        stream_id = conn.request("GET", "/push")
        assert conn.get_response(stream_id).read() == b"pushed a and b\n"
        assert list(conn.get_pushes(stream_id)) == []


# -- flow control ----------------------------------------------------------------


class RecordingManager(FlowControlManager):
    instances: ClassVar[list[RecordingManager]] = []

    def __init__(self, initial_window_size: int, document_size: int | None = None) -> None:
        super().__init__(initial_window_size, document_size)
        self.lowest = initial_window_size
        RecordingManager.instances.append(self)

    def increase_window_size(self, frame_size: int) -> int:
        # (A stream's window starts small and runs dry while it grows.)
        if self.target_window_size >= self.max_window_size:
            self.lowest = min(self.lowest, self.window_size - frame_size)
        return super().increase_window_size(frame_size)


def test_window_manager_is_pluggable_and_never_runs_dry(
    h2_server: Any, ssl_context: ssl.SSLContext
) -> None:
    RecordingManager.instances = []
    size = 64 * 1024 * 1024  # four times the default stream window
    with tls(h2_server, ssl_context, window_manager=RecordingManager) as conn:
        resp = conn.get_response(conn.request("GET", f"/bytes/{size}"))
        total = 0
        for chunk in resp.read_chunked():
            total += len(chunk)
        assert total == size
    assert len(RecordingManager.instances) >= 2  # the connection's and the stream's
    # The stream's window grew to the largest, and from then never ran dry.
    assert any(m.initial_window_size < m.target_window_size == m.max_window_size
               for m in RecordingManager.instances)
    assert all(m.lowest > 0 for m in RecordingManager.instances)


# -- errors ------------------------------------------------------------------------


def test_read_timeout(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    with tls(h2_server, ssl_context) as conn:
        stream_id = conn.request("GET", "/delay/5", timeout=(5, 0.3))
        with pytest.raises(ReadTimeout):
            conn.get_response(stream_id)
        # The connection itself is fine.
        assert conn.get_response(conn.request("GET", "/token/ok")).read() == b"ok"


def test_read_timeout_mid_body_http11(h1_server: Any) -> None:
    # The head comes at once and must beat the read timeout even on a loaded
    # machine; the body comes 10 s later, far past it.
    conn = HTTP11Connection(h1_server.host, h1_server.port, timeout=(10, 2))
    conn.request("GET", "/slow-body/10")
    resp = conn.get_response()
    with pytest.raises(ReadTimeout):
        resp.read()
    conn.close()


def test_connect_timeout_in_tls_handshake(ssl_context: ssl.SSLContext) -> None:
    # A listener that accepts (via the backlog) but never answers the handshake.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    try:
        conn = HTTPConnection("127.0.0.1", listener.getsockname()[1], secure=True,
                              ssl_context=ssl_context, timeout=(0.3, 5))
        with pytest.raises(ConnectTimeout) as info:
            conn.request("GET", "/")
        assert info.value.retry_safe
    finally:
        listener.close()


def test_connection_refused() -> None:
    # Bound but not listening: refused, and no other process (nor a connect
    # picking it as its own source port) can take the port meanwhile.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        with pytest.raises(ConnectError, match="Failed to connect"):
            HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")


def test_untrusted_certificate(h2_server: Any) -> None:
    conn = HTTPConnection(h2_server.host, h2_server.port, secure=True,
                          ssl_context=hyper.tls.init_context(), timeout=5)
    with pytest.raises(TLSError, match="verif"):
        conn.request("GET", "/")


@pytest.mark.parametrize("value", ["a\r\nInjected: 1", "a\nb", "a\x00b"])
@pytest.mark.parametrize("cls", [HTTP20Connection, HTTP11Connection])
def test_header_injection_refused(cls: Any, value: str, h2c_server: Any) -> None:
    kwargs = {"secure": False} if cls is HTTP20Connection else {}
    conn = cls(h2c_server.host, h2c_server.port, timeout=5, **kwargs)
    with conn, pytest.raises(InvalidHeaderError):
        conn.request("GET", "/get", headers={"x-evil": value})


def test_many_threads_share_one_connection(h2_server: Any, ssl_context: ssl.SSLContext) -> None:
    conn = HTTP20Connection(h2_server.host, h2_server.port, secure=True,
                            ssl_context=ssl_context, timeout=20)
    mismatches: list[str] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(20):
                token = f"w{n}-{i}"
                resp = conn.get_response(conn.request("GET", f"/token/{token}"))
                if resp.read() != token.encode():
                    mismatches.append(token)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    conn.close()
    assert not errors
    assert not mismatches
    assert not any(t.is_alive() for t in threads)


def test_debug_logging_shows_frames(
    h2c_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The level must be set before the connection exists: h2's frame tracing
    # is only wired in when DEBUG is on (it formats every frame eagerly).
    caplog.set_level(logging.DEBUG, logger="hyper")
    with HTTP20Connection(h2c_server.host, h2c_server.port, secure=False, timeout=5) as conn:
        conn.get_response(conn.request("GET", "/token/x")).read()
    text = caplog.text
    assert "Sent frame: HeadersFrame" in text
    assert "Received frame: HeadersFrame" in text or "Received frame: DataFrame" in text


def test_ping(h2c_server: Any) -> None:
    with HTTP20Connection(h2c_server.host, h2c_server.port, secure=False, timeout=5) as conn:
        conn.ping(b"12345678")
        conn.get_response(conn.request("GET", "/token/x")).read()
        assert b"12345678" in conn._state.pings
        with pytest.raises(HyperError):
            conn.ping(b"short")


def test_close_wakes_a_thread_waiting_for_its_response(h2_server: Any,
                                                       ssl_context: ssl.SSLContext) -> None:
    conn = HTTP20Connection(h2_server.host, h2_server.port, secure=True,
                            ssl_context=ssl_context, timeout=30)
    stream_id = conn.request("GET", "/delay/8")
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            conn.get_response(stream_id)
        except BaseException as exc:
            outcome.append(exc)

    waiter = threading.Thread(target=wait)
    waiter.start()
    # Close only once it has taken the reader role (bounded wait).
    deadline = time.monotonic() + 10
    while not conn._reading and waiter.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert conn._reading, "the waiter never started reading"
    conn.close()
    # Woken by the close, long before its 30 s timeout or the 8 s answer.
    waiter.join(5)
    assert not waiter.is_alive()
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConnectionClosed)
