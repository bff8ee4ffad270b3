"""h2c by Upgrade (RFC 7540 section 3.2) beyond the happy path: a switch to
a protocol we did not offer, a server that took Upgrade but not prior
knowledge, and Apache httpd, which ends every upgraded connection after
its first stream."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hpack
import pytest
from hyperframe.frame import HeadersFrame, SettingsFrame

from conftest import require_binary
from hyper import HTTPConnection
from hyper.exceptions import RemoteProtocolError
from servers import free_port, stop_process, tcp_accepts
from tcppeer import OK, PeerConn, Peers, fin, head, reply, signal, wait

pytestmark = pytest.mark.timeout(60)

WEBSOCKET_101 = (b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                 b"Upgrade: websocket\r\n\r\n")


def test_switch_to_another_protocol_is_a_clear_error(tcp_peers: Peers) -> None:
    """RFC 9110 section 7.8: only h2c was offered; a 101 to websocket is the
    server's error, reported at once (not a read timeout on frames that
    never come)."""
    peer = tcp_peers([head(), reply(WEBSOCKET_101), fin()])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=30)
    started = time.monotonic()
    with pytest.raises(RemoteProtocolError, match=r"'websocket'.*h2c='off'"):
        conn.request("GET", "/")
    # (Generous: far below the 30 s read timeout it would otherwise wait.)
    assert time.monotonic() - started < 10
    assert conn.connection is None
    conn.close()


def test_known_h2c_server_without_prior_knowledge_falls_back_to_upgrade(
        tcp_peers: Peers) -> None:
    """A server that once switched by Upgrade is tried with prior knowledge
    on the next connection; if it answers that in HTTP/1.1, hyper offers
    Upgrade again and speaks HTTP/1.1 when declined."""
    bad_request = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    # (hyper gives up at "HTTP/1.1 ", maybe before the rest is sent.)
    peer = tcp_peers([reply(bad_request, tolerate_close=True)], [head(), reply(OK)])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=5)
    conn._speaks_h2c = True  # as after an earlier successful upgrade
    assert conn.request("GET", "/") is None
    assert conn.get_response().read() == b"hello"
    assert conn.negotiated_protocol == "http/1.1"
    assert b"upgrade: h2c" in peer.heads[0].lower()
    conn.close()


def _accepts(port: int) -> bool:
    try:
        return tcp_accepts(port)
    except OSError:
        return False


@pytest.fixture
def apache_h2c(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Apache httpd 2.4 with mod_http2, ``Protocols h2c http/1.1``, on a
    free loopback port; stopped by its PID."""
    binary = require_binary("apache2")
    modules = Path("/usr/lib/apache2/modules")
    port = free_port()
    htdocs = tmp_path / "htdocs"
    htdocs.mkdir()
    (htdocs / "index.html").write_bytes(b"hello apache\n")
    conf = tmp_path / "httpd.conf"
    conf.write_text(f"""
ServerRoot {tmp_path}
PidFile {tmp_path}/httpd.pid
ErrorLog {tmp_path}/error.log
Listen 127.0.0.1:{port}
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule http2_module {modules}/mod_http2.so
ServerName 127.0.0.1
DocumentRoot {htdocs}
Protocols h2c http/1.1
<Directory {htdocs}>
  Require all granted
</Directory>
""")
    proc = subprocess.Popen([binary, "-f", str(conf), "-DFOREGROUND"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while not _accepts(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"apache2 did not start: {(tmp_path / 'error.log').read_text()}")
            time.sleep(0.05)
        yield "127.0.0.1", port
    finally:
        stop_process(proc)


def test_apache_after_upgrade(apache_h2c: tuple[str, int]) -> None:
    """Apache answers the upgraded request, then ends the connection (GOAWAY,
    last stream 1, "timeout"): the second request is sent again, on a
    connection opened with prior knowledge, which then carries the rest."""
    host, port = apache_h2c
    with HTTPConnection(host, port, timeout=10) as conn:
        for _ in range(5):
            response = conn.get_response(conn.request("GET", "/index.html"))
            assert (response.status, response.read()) == (200, b"hello apache\n")
            assert conn.negotiated_protocol == "h2c"
        # The first connection and one more: not one per request.
        assert conn._generation == 1


def _frame(frame: Any) -> bytes:
    return bytes(frame.serialize())


def test_second_request_waits_for_the_servers_settings(tcp_peers: Peers) -> None:
    """Right after the switch the server's SETTINGS (its stream limit) are
    not known yet: stream 1 is open, so a second request waits for them
    (RFC 9113 section 6.5.2) instead of risking the server's limit."""
    switched, go = threading.Event(), threading.Event()
    encoder = hpack.Encoder()

    def answer(stream_id: int) -> bytes:
        return _frame(HeadersFrame(stream_id, encoder.encode([(":status", "200")]),
                                   flags=["END_HEADERS", "END_STREAM"]))

    def stream_3_sent(c: PeerConn) -> None:
        # HEADERS (type 1) with END_STREAM | END_HEADERS on stream 3.
        c.read_until(b"\x01\x05\x00\x00\x00\x03", "the request on stream 3")

    peer = tcp_peers([
        head(),
        reply(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
              b"Upgrade: h2c\r\n\r\n"),
        signal(switched),
        wait(go),
        reply(_frame(SettingsFrame(0)) + answer(1)),
        stream_3_sent,
        reply(answer(3)),
    ])
    conn = HTTPConnection("127.0.0.1", peer.port, timeout=5)
    first = conn.request("GET", "/")
    assert switched.wait(5)
    sent: dict[str, Any] = {}
    second = threading.Thread(target=lambda: sent.update(id=conn.request("GET", "/2")))
    second.start()
    h2conn = conn.connection
    deadline = time.monotonic() + 5
    # The second request's thread reads the socket while it waits.
    while not getattr(h2conn, "_reading", False):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "id" not in sent
    go.set()
    second.join(10)
    assert sent["id"] == 3
    assert conn.get_response(first).status == 200
    assert conn.get_response(sent["id"]).status == 200
    conn.close()
