"""The test servers themselves answer as documented.

These tests use only the standard library and the h2 package, never hyper:
they check the ground every other test stands on.
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.settings
import hyperframe.frame
import pytest

from app import PUSHED, TRAILERS, TRAILERS_BODY, payload
from conftest import (
    MAX_REQUESTS,
    HypercornFactory,
    NginxFactory,
    WebServerFactory,
    require_binary,
)
from leaks import Snapshot
from servers import (
    STATIC_FILES,
    ApacheServer,
    Certs,
    H2oServer,
    NghttpdServer,
    NginxServer,
    ProxyServer,
    Server,
    WebServer,
    client_context,
)

TIMEOUT = 10.0
TESTS = Path(__file__).resolve().parent


# --------------------------------------------------------------------------
# Minimal stdlib / h2 clients


def h1_request(
    server: Server,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    certs: Certs | None = None,
) -> tuple[http.client.HTTPResponse, bytes]:
    conn: http.client.HTTPConnection
    if server.scheme == "https":
        assert certs is not None
        conn = http.client.HTTPSConnection(
            server.host, server.port, timeout=TIMEOUT, context=client_context(certs)
        )
    else:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response, response.read()
    finally:
        conn.close()


def raw_exchange(port: int, request: bytes, until: bytes = b"\r\n\r\n") -> bytes:
    """Send raw bytes and read until ``until`` shows up (or EOF)."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        received = b""
        while until not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


@dataclass
class StreamResult:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    data: bytes = b""
    trailers: list[tuple[bytes, bytes]] = field(default_factory=list)
    ended: bool = False
    pushes: list[h2.events.PushedStreamReceived] = field(default_factory=list)

    def header(self, name: bytes) -> bytes:
        return dict(self.headers)[name]

    def json(self) -> Any:
        return json.loads(self.data)


class H2Probe:
    """A tiny blocking HTTP/2 client over a connected (TLS) socket."""

    def __init__(self, sock: socket.socket, authority: str, scheme: str) -> None:
        self.sock = sock
        self.authority = authority
        self.scheme = scheme
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.initiate_connection()
        self.streams: dict[int, StreamResult] = {}
        self.remote_settings: dict[int, int] = {}
        self.goaway: h2.events.ConnectionTerminated | None = None
        self.flush()

    def __enter__(self) -> H2Probe:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.sock.close()

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def request(
        self,
        path: str,
        method: str = "GET",
        extra: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
    ) -> int:
        stream_id = self.conn.get_next_available_stream_id()
        headers = [
            (":method", method),
            (":scheme", self.scheme),
            (":authority", self.authority),
            (":path", path),
            *extra,
        ]
        self.conn.send_headers(stream_id, headers, end_stream=not body)
        if body:
            self.conn.send_data(stream_id, body, end_stream=True)
        self.streams[stream_id] = StreamResult()
        self.flush()
        return stream_id

    def wait(self, stream_ids: Iterable[int]) -> None:
        wanted = list(stream_ids)
        deadline = time.monotonic() + TIMEOUT
        while not all(self.streams.get(s, StreamResult()).ended for s in wanted):
            if self.goaway is not None and any(s > self.goaway.last_stream_id for s in wanted):
                raise AssertionError(f"GOAWAY before the streams ended: {self.goaway}")
            assert time.monotonic() < deadline, "timed out waiting for streams"
            self.receive_once()

    def receive_once(self) -> None:
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        for event in self.conn.receive_data(data):
            self._handle(event)
        self.flush()

    def _handle(self, event: h2.events.Event) -> None:
        if isinstance(event, h2.events.ResponseReceived):
            self.streams[event.stream_id].headers = list(event.headers)
        elif isinstance(event, h2.events.DataReceived):
            self.streams[event.stream_id].data += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
        elif isinstance(event, h2.events.TrailersReceived):
            self.streams[event.stream_id].trailers = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            self.streams[event.stream_id].ended = True
        elif isinstance(event, h2.events.PushedStreamReceived):
            self.streams[event.parent_stream_id].pushes.append(event)
            self.streams[event.pushed_stream_id] = StreamResult()
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            for code, setting in event.changed_settings.items():
                self.remote_settings[code] = setting.new_value
        elif isinstance(event, h2.events.ConnectionTerminated):
            self.goaway = event

    def get(self, path: str, **kwargs: Any) -> StreamResult:
        stream_id = self.request(path, **kwargs)
        self.wait([stream_id])
        return self.streams[stream_id]


def tls_socket(
    server: Server, certs: Certs, alpn: list[str], client_cert: bool = False
) -> ssl.SSLSocket:
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    try:
        context = client_context(certs, alpn, client_cert)
        return context.wrap_socket(raw, server_hostname=server.host)
    except BaseException:
        raw.close()
        raise


def h2_over_tls(server: Server, certs: Certs) -> H2Probe:
    sock = tls_socket(server, certs, ["h2"])
    if sock.selected_alpn_protocol() != "h2":
        sock.close()
        raise AssertionError(f"ALPN chose {sock.selected_alpn_protocol()!r}, not h2")
    return H2Probe(sock, server.authority, "https")


def h2_prior_knowledge(server: Server) -> H2Probe:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT)
    return H2Probe(sock, server.authority, "http")


# --------------------------------------------------------------------------
# Certificates


def test_certs_files_exist_and_verify(certs: Certs, h2_server: Server) -> None:
    for path in (
        certs.ca_path,
        certs.server_cert_path,
        certs.server_key_path,
        certs.client_cert_path,
        certs.client_key_path,
        certs.client_combined_path,
    ):
        assert path.read_bytes().startswith(b"-----BEGIN")
    combined = certs.client_combined_path.read_bytes()
    assert b"CERTIFICATE" in combined and b"PRIVATE KEY" in combined
    with tls_socket(h2_server, certs, ["http/1.1"]) as sock:
        assert sock.getpeercert()["subjectAltName"][0] == ("DNS", "localhost")


def test_ssl_context_fixture_negotiates_h2(ssl_context: ssl.SSLContext, h2_server: Server) -> None:
    raw = socket.create_connection(("127.0.0.1", h2_server.port), timeout=TIMEOUT)
    with ssl_context.wrap_socket(raw, server_hostname="localhost") as sock:
        assert sock.selected_alpn_protocol() == "h2"


# --------------------------------------------------------------------------
# Python servers


def test_h2_server_speaks_h2_by_alpn(h2_server: Server, certs: Certs) -> None:
    assert h2_server.url == f"https://localhost:{h2_server.port}"
    with h2_over_tls(h2_server, certs) as probe:
        result = probe.get("/get?a=1&a=2", extra=[("x-probe", "yes")])
        body = result.json()
        assert body["http_version"] == "2"
        assert body["query"] == "a=1&a=2"
        assert ["x-probe", "yes"] in body["headers"]


def test_h2_server_also_speaks_http11(h2_server: Server, certs: Certs) -> None:
    response, body = h1_request(h2_server, "GET", "/get", certs=certs)
    assert response.status == 200
    assert json.loads(body)["http_version"] == "1.1"


def test_h1_tls_server_offers_only_http11(h1_tls_server: Server, certs: Certs) -> None:
    with tls_socket(h1_tls_server, certs, ["h2", "http/1.1"]) as sock:
        assert sock.selected_alpn_protocol() == "http/1.1"
    _, body = h1_request(h1_tls_server, "GET", "/get", certs=certs)
    assert json.loads(body)["http_version"] == "1.1"


def test_h2c_server_prior_knowledge(h2c_server: Server) -> None:
    assert h2c_server.url == f"http://127.0.0.1:{h2c_server.port}"
    with h2_prior_knowledge(h2c_server) as probe:
        assert probe.get("/get").json()["http_version"] == "2"


def test_h2c_server_upgrade(h2c_server: Server) -> None:
    settings = base64.urlsafe_b64encode(b"").decode()
    request = (
        f"GET /get HTTP/1.1\r\nHost: {h2c_server.authority}\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: {settings}\r\n\r\n"
    )
    received = raw_exchange(h2c_server.port, request.encode())
    assert received.startswith(b"HTTP/1.1 101 ")
    assert b"upgrade: h2c" in received.lower()


def test_h2c_server_http11(h2c_server: Server) -> None:
    _, body = h1_request(h2c_server, "GET", "/get")
    assert json.loads(body)["http_version"] == "1.1"


def test_h1_server_ignores_h2c_upgrade(h1_server: Server) -> None:
    headers = {
        "Connection": "Upgrade, HTTP2-Settings",
        "Upgrade": "h2c",
        "HTTP2-Settings": "",
    }
    response, body = h1_request(h1_server, "GET", "/get", headers=headers)
    assert response.status == 200
    assert response.version == 11
    assert json.loads(body)["http_version"] == "1.1"


def test_h1_server_refuses_http2_preface(h1_server: Server) -> None:
    received = raw_exchange(h1_server.port, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    assert received.startswith(b"HTTP/1.")
    assert b" 505 " in received.split(b"\r\n")[0]


def test_h1_server_trailers(h1_server: Server) -> None:
    request = f"GET /trailers HTTP/1.1\r\nHost: {h1_server.authority}\r\nTE: trailers\r\n\r\n"
    received = raw_exchange(h1_server.port, request.encode(), until=b"x-trailer-two: beta\r\n\r\n")
    assert b"transfer-encoding: chunked" in received.lower()
    assert TRAILERS_BODY in received
    assert b"x-trailer-one: alpha" in received


def test_h1_server_chunked_upload_keepalive(h1_server: Server) -> None:
    conn = http.client.HTTPConnection(h1_server.host, h1_server.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/echo", body=iter([b"abc", b"defg"]), encode_chunked=True)
        response = conn.getresponse()
        assert response.read() == b"abcdefg"
        assert response.getheader("x-body-length") == "7"
        # The same connection serves the next request.
        conn.request("GET", "/token/again")
        assert conn.getresponse().read() == b"again"
    finally:
        conn.close()


def test_h1_server_keeps_the_connection_after_a_body_the_app_left_unread(
    h1_server: Server,
) -> None:
    """/token answers without reading the request body: the server drops the
    rest itself and the same connection serves the next request."""
    conn = http.client.HTTPConnection(h1_server.host, h1_server.port, timeout=TIMEOUT)
    try:
        conn.request("POST", "/token/first", body=b"unread " * 5000)
        response = conn.getresponse()
        assert response.read() == b"first"
        assert response.getheader("connection") is None
        first_socket = conn.sock
        conn.request("GET", "/token/second")
        assert conn.getresponse().read() == b"second"
        assert conn.sock is first_socket
    finally:
        conn.close()


def test_h1_server_announces_its_close_after_a_chunked_body_left_unread(
    h1_server: Server,
) -> None:
    """A chunked body of unknown length is not drained: the response says
    ``Connection: close``, so a keep-alive client opens a new connection."""
    # The whole request in one write, read by the server at once: its close
    # after the answer cannot then reset a connection we are still writing to.
    request = (
        f"POST /token/first HTTP/1.1\r\nHost: {h1_server.authority}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n" + "6\r\nunread\r\n" * 3 + "0\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", h1_server.port), timeout=TIMEOUT) as sock:
        sock.sendall(request.encode())
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.getheader("connection") == "close"
        assert response.read() == b"first"
        response.close()
    conn = http.client.HTTPConnection(h1_server.host, h1_server.port, timeout=TIMEOUT)
    try:
        conn.request("GET", "/token/second")
        assert conn.getresponse().read() == b"second"
    finally:
        conn.close()


# --------------------------------------------------------------------------
# The app's endpoints (over the HTTP/1.1 server, and h2 for h2-only ones)


def test_echo_and_anything(h1_server: Server) -> None:
    response, body = h1_request(h1_server, "PUT", "/echo", body=b"\x00\xffhello")
    assert body == b"\x00\xffhello"
    assert response.getheader("x-body-length") == "7"
    assert response.getheader("content-type") == "application/octet-stream"
    _, body = h1_request(h1_server, "POST", "/anything?x=1", body=b'{"k": [1, 2]}')
    data = json.loads(body)
    assert (data["method"], data["query"], data["json"]) == ("POST", "x=1", {"k": [1, 2]})
    assert data["body"] == '{"k": [1, 2]}'


@pytest.mark.parametrize("n", [0, 1, 65536, 65537, 3 * 1024 * 1024 + 5])
def test_bytes_and_stream(h1_server: Server, n: int) -> None:
    response, body = h1_request(h1_server, "GET", f"/bytes/{n}")
    assert response.getheader("content-length") == str(n)
    assert body == payload(n)
    response, body = h1_request(h1_server, "GET", f"/stream/{n}")
    assert response.getheader("content-length") is None
    assert body == payload(n)


def test_status(h1_server: Server) -> None:
    assert h1_request(h1_server, "GET", "/status/418")[0].status == 418
    assert h1_request(h1_server, "GET", "/status/204")[0].status == 204
    assert h1_request(h1_server, "GET", "/nowhere")[0].status == 404


@pytest.mark.parametrize("endpoint", ["gzip", "deflate", "brotli", "zstd"])
def test_compressed(h1_server: Server, endpoint: str) -> None:
    decoders = {"gzip": gzip.decompress, "deflate": zlib.decompress}
    if endpoint == "brotli":
        brotli = pytest.importorskip("brotli")
        decoders["brotli"] = brotli.decompress
    if endpoint == "zstd":
        zstandard = pytest.importorskip("zstandard")
        decoders["zstd"] = lambda data: (
            zstandard.ZstdDecompressor().decompressobj().decompress(data)
        )
    response, body = h1_request(h1_server, "GET", f"/{endpoint}")
    expected_coding = {"brotli": "br"}.get(endpoint, endpoint)
    assert response.getheader("content-encoding") == expected_coding
    assert json.loads(decoders[endpoint](body))[endpoint] is True


def test_repeated_headers(h1_server: Server) -> None:
    response, _ = h1_request(h1_server, "GET", "/headers/repeat")
    assert response.headers.get_all("set-cookie") == ["first=1; Path=/", "second=2; Path=/"]
    assert response.headers.get_all("x-multi") == ["one", "two"]


def test_cookies(h1_server: Server) -> None:
    response, _ = h1_request(h1_server, "GET", "/cookies/set?flavour=oat&n=1")
    assert response.status == 302
    assert response.getheader("location") == "/cookies"
    assert response.headers.get_all("set-cookie") == ["flavour=oat; Path=/", "n=1; Path=/"]
    _, body = h1_request(h1_server, "GET", "/cookies", headers={"Cookie": "a=1; b=2"})
    assert json.loads(body) == {"cookies": {"a": "1", "b": "2"}}


def test_redirects(h1_server: Server) -> None:
    response, _ = h1_request(h1_server, "GET", "/redirect/3")
    assert (response.status, response.getheader("location")) == (302, "/redirect/2")
    response, _ = h1_request(h1_server, "GET", "/redirect/1")
    assert response.getheader("location") == "/get"
    response, _ = h1_request(h1_server, "GET", "/redirect-to?url=/token/x&status=307")
    assert (response.status, response.getheader("location")) == (307, "/token/x")


def test_basic_auth(h1_server: Server) -> None:
    response, _ = h1_request(h1_server, "GET", "/basic-auth/user/pw")
    assert response.status == 401
    assert response.getheader("www-authenticate", "").startswith("Basic ")
    auth = "Basic " + base64.b64encode(b"user:pw").decode()
    response, body = h1_request(
        h1_server, "GET", "/basic-auth/user/pw", headers={"Authorization": auth}
    )
    assert response.status == 200
    assert json.loads(body) == {"authenticated": True, "user": "user"}


def test_delay_and_slow_body(h1_server: Server) -> None:
    assert json.loads(h1_request(h1_server, "GET", "/delay/0.1")[1])["path"] == "/delay/0.1"
    response, body = h1_request(h1_server, "GET", "/slow-body/0.1")
    assert (response.getheader("content-length"), body) == ("10", b"slow body\n")


def test_token(h1_server: Server) -> None:
    response, body = h1_request(h1_server, "GET", "/token/abc-123")
    assert (body, response.getheader("x-token")) == (b"abc-123", "abc-123")


def test_h2_trailers(h2_server: Server, certs: Certs) -> None:
    with h2_over_tls(h2_server, certs) as probe:
        result = probe.get("/trailers", extra=[("te", "trailers")])
        assert result.data == TRAILERS_BODY
        assert result.trailers == TRAILERS


def test_h2_push(h2_server: Server, certs: Certs) -> None:
    with h2_over_tls(h2_server, certs) as probe:
        stream_id = probe.request("/push")
        probe.wait([stream_id])
        pushes = probe.streams[stream_id].pushes
        paths = [dict(p.headers)[b":path"] for p in pushes]
        assert paths == [b"/pushed/a", b"/pushed/b"]
        probe.wait([p.pushed_stream_id for p in pushes])
        assert [probe.streams[p.pushed_stream_id].data for p in pushes] == [
            PUSHED["a"],
            PUSHED["b"],
        ]


def test_h2_large_body(h2_server: Server, certs: Certs) -> None:
    with h2_over_tls(h2_server, certs) as probe:
        n = 2 * 1024 * 1024 + 3
        assert probe.get(f"/bytes/{n}").data == payload(n)


def test_start_hypercorn_applies_config(start_hypercorn: HypercornFactory) -> None:
    server = start_hypercorn(tls=False, h2_max_concurrent_streams=2)
    with h2_prior_knowledge(server) as probe:
        probe.get("/get")
        assert probe.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 2
        assert start_hypercorn.started == [server]


def test_start_hypercorn_requiring_client_certificate(
    start_hypercorn: HypercornFactory, certs: Certs
) -> None:
    server = start_hypercorn(tls=True, ca_certs=certs.ca_path, verify_mode=ssl.CERT_REQUIRED)
    assert _first_bytes_after_preface(server, certs, client_cert=True) != b""
    # TLS 1.3: the server checks the certificate after the client finished
    # its handshake, so the refusal (alert or EOF) shows up on the first read.
    assert _first_bytes_after_preface(server, certs, client_cert=False) == b""


def _first_bytes_after_preface(server: Server, certs: Certs, client_cert: bool) -> bytes:
    with tls_socket(server, certs, ["h2"], client_cert=client_cert) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        try:
            return sock.recv(1)
        except (ssl.SSLError, ConnectionError):
            return b""


# --------------------------------------------------------------------------
# Debian servers


def test_nghttpd_pushes_and_serves(nghttpd_server: NghttpdServer, certs: Certs) -> None:
    with h2_over_tls(nghttpd_server, certs) as probe:
        stream_id = probe.request("/")
        probe.wait([stream_id])
        result = probe.streams[stream_id]
        assert result.data == STATIC_FILES["index.html"]
        [push] = result.pushes
        assert dict(push.headers)[b":path"] == b"/pushed.css"
        probe.wait([push.pushed_stream_id])
        assert probe.streams[push.pushed_stream_id].data == STATIC_FILES["pushed.css"]
        assert probe.get("/big.bin").data == payload(1024 * 1024)
        assert probe.get("/echo", method="POST", body=b"upload!").data == b"upload!"


def test_nginx_speaks_h2_and_proxies(nginx_server: NginxServer, certs: Certs) -> None:
    with h2_over_tls(nginx_server, certs) as probe:
        assert probe.get("/small.txt").data == STATIC_FILES["small.txt"]
        data = probe.get("/app/get?q=1").json()
        assert (data["path"], data["query"]) == ("/get", "q=1")
        redirect = probe.get("/app/redirect/1")
        assert redirect.header(b"location") == b"/app/get"
        assert probe.get("/app/echo", method="POST", body=b"via nginx").data == b"via nginx"


def test_nginx_plaintext_http11(nginx_server: NginxServer) -> None:
    response, body = h1_request(nginx_server.plain, "GET", "/app/stream/100000")
    assert response.version == 11
    assert body == payload(100000)
    assert h1_request(nginx_server.plain, "GET", "/big.bin")[1] == payload(1024 * 1024)


def test_start_nginx_keepalive_requests_sends_goaway(
    start_nginx: NginxFactory, certs: Certs
) -> None:
    server = start_nginx("keepalive_requests 2;")
    with h2_over_tls(server, certs) as probe:
        probe.get("/small.txt")
        probe.request("/small.txt")
        # nginx sends GOAWAY(last_stream_id=3) *before* the answer on stream 3.
        # h2 (python-hyper/h2#1181) closes its state machine on GOAWAY and then
        # rejects those frames, so read the frames here without h2.
        frames = read_frames(
            probe.sock, until=lambda f: f.stream_id == 3 and "END_STREAM" in f.flags
        )
        [goaway] = [f for f in frames if isinstance(f, hyperframe.frame.GoAwayFrame)]
        assert (goaway.last_stream_id, goaway.error_code) == (3, 0)
        assert frames.index(goaway) < max(i for i, f in enumerate(frames) if f.stream_id == 3)


def test_start_nginx_max_concurrent_streams(start_nginx: NginxFactory, certs: Certs) -> None:
    server = start_nginx("http2_max_concurrent_streams 2;")
    with h2_over_tls(server, certs) as probe:
        probe.get("/small.txt")
        assert probe.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 2
    assert start_nginx.started == [server.backend, server]


@pytest.mark.parametrize("real_server", ["apache", "h2o"], indirect=True)
def test_apache_and_h2o_speak_h2_and_proxy(real_server: WebServer, certs: Certs) -> None:
    assert real_server.url == f"https://localhost:{real_server.port}"
    with h2_over_tls(real_server, certs) as probe:
        assert probe.get("/small.txt").data == STATIC_FILES["small.txt"]
        assert probe.get("/big.bin").data == payload(1024 * 1024)
        data = probe.get("/app/get?q=1").json()
        assert (data["path"], data["query"]) == ("/get", "q=1")
        assert probe.get("/app/echo", method="POST", body=b"proxied").data == b"proxied"
    _, body = h1_request(real_server, "GET", "/small.txt", certs=certs)
    assert body == STATIC_FILES["small.txt"]


@pytest.mark.parametrize("real_server", ["apache", "h2o"], indirect=True)
def test_apache_and_h2o_plaintext_speaks_h2c_and_http11(real_server: WebServer) -> None:
    plain = real_server.plain
    assert plain.url == f"http://127.0.0.1:{plain.port}"
    with h2_prior_knowledge(plain) as probe:
        assert probe.get("/small.txt").data == STATIC_FILES["small.txt"]
        assert probe.get("/app/get").json()["path"] == "/get"
    settings = base64.urlsafe_b64encode(b"").decode()
    upgrade = (
        f"GET /small.txt HTTP/1.1\r\nHost: {plain.authority}\r\n"
        "Connection: Upgrade, HTTP2-Settings\r\n"
        f"Upgrade: h2c\r\nHTTP2-Settings: {settings}\r\n\r\n"
    )
    assert raw_exchange(plain.port, upgrade.encode()).startswith(b"HTTP/1.1 101 ")
    response, body = h1_request(plain, "GET", "/app/stream/100000")
    assert response.version == 11
    assert body == payload(100000)


def test_web_servers_share_one_layout(
    nginx_server: NginxServer, apache_server: ApacheServer, h2o_server: H2oServer
) -> None:
    servers: list[WebServer] = [nginx_server, apache_server, h2o_server]
    assert [s.kind for s in servers] == ["nginx", "apache", "h2o"]
    for server in servers:
        assert server.app_prefix == "/app"
        # (Other tests may add files of their own to a session's server.)
        assert {*STATIC_FILES, "big.bin"} <= {p.name for p in server.htdocs.iterdir()}
        assert server.conf_path.is_file()
        assert server.backend.log_paths[0].is_file()


@pytest.mark.parametrize("start_real_server", ["nginx", "apache"], indirect=True)
def test_start_real_server_max_concurrent_streams(
    start_real_server: WebServerFactory, certs: Certs
) -> None:
    server = start_real_server.limited(max_concurrent_streams=2)
    with h2_over_tls(server, certs) as probe:
        probe.get("/small.txt")
        assert probe.remote_settings[h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS] == 2
    assert start_real_server.started == [server.backend, server]


@pytest.mark.parametrize(
    ("start_real_server", "limit"),
    [("apache", "max_requests"), ("h2o", "max_requests"), ("h2o", "max_concurrent_streams")],
    indirect=["start_real_server"],
)
def test_start_real_server_knows_which_limits_exist(
    start_real_server: WebServerFactory, limit: str
) -> None:
    with pytest.raises(ValueError, match=f"has no {limit} setting"):
        start_real_server.limited(**{limit: 3})
    assert start_real_server.started == []


@pytest.mark.parametrize("fixture", ["nginx_max_requests_server", "h2_max_requests_server"])
def test_max_requests_servers_send_goaway(
    fixture: str, request: pytest.FixtureRequest, certs: Certs
) -> None:
    server: Server = request.getfixturevalue(fixture)
    prefix = getattr(server, "app_prefix", "")
    with h2_over_tls(server, certs) as probe:
        for n in range(MAX_REQUESTS - 1):
            assert probe.get(f"{prefix}/token/r{n}").data == f"r{n}".encode()
        probe.request(f"{prefix}/token/last")
        # GOAWAY may precede the last answer, which h2 then rejects
        # (python-hyper/h2#1181): read the frames without h2.
        frames = read_frames(
            probe.sock,
            until=lambda f: isinstance(f, hyperframe.frame.GoAwayFrame)
            or (f.stream_id == 2 * MAX_REQUESTS - 1 and "END_STREAM" in f.flags),
        )
        goaways = [f for f in frames if isinstance(f, hyperframe.frame.GoAwayFrame)]
        if not goaways:
            # hypercorn sends its GOAWAY once the request past its limit comes.
            probe.request(f"{prefix}/token/past")
            frames = read_frames(
                probe.sock, until=lambda f: isinstance(f, hyperframe.frame.GoAwayFrame)
            )
            goaways = [f for f in frames if isinstance(f, hyperframe.frame.GoAwayFrame)]
        assert goaways[0].error_code == 0


def read_frames(
    sock: socket.socket, until: Callable[[hyperframe.frame.Frame], bool]
) -> list[hyperframe.frame.Frame]:
    frames: list[hyperframe.frame.Frame] = []
    buffer = b""
    deadline = time.monotonic() + TIMEOUT
    while not any(until(f) for f in frames):
        assert time.monotonic() < deadline, f"timed out; frames so far: {frames}"
        chunk = sock.recv(65536)
        assert chunk, f"EOF; frames so far: {frames}"
        buffer += chunk
        while len(buffer) >= 9:
            frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9 : 9 + length]))
            frames.append(frame)
            buffer = buffer[9 + length :]
    return frames


def test_tinyproxy_connect(tinyproxy_server: ProxyServer, h1_server: Server) -> None:
    request = f"CONNECT {h1_server.authority} HTTP/1.1\r\nHost: {h1_server.authority}\r\n\r\n"
    with socket.create_connection(
        (tinyproxy_server.host, tinyproxy_server.port), timeout=TIMEOUT
    ) as sock:
        sock.sendall(request.encode())
        reply = _read_head(sock)
        assert reply.split(b"\r\n")[0].split(b" ")[1] == b"200"
        sock.sendall(f"GET /token/tunnel HTTP/1.1\r\nHost: {h1_server.authority}\r\n\r\n".encode())
        assert _read_head(sock).startswith(b"HTTP/1.1 200")


def test_tinyproxy_auth(tinyproxy_auth_server: ProxyServer, h1_server: Server) -> None:
    proxy = tinyproxy_auth_server
    assert proxy.username and proxy.password
    assert proxy.url_with_auth == f"http://{proxy.username}:{proxy.password}@127.0.0.1:{proxy.port}"
    request = f"CONNECT {h1_server.authority} HTTP/1.1\r\nHost: {h1_server.authority}\r\n"
    denied = raw_exchange(proxy.port, (request + "\r\n").encode())
    assert denied.split(b" ")[1] == b"407"
    token = base64.b64encode(f"{proxy.username}:{proxy.password}".encode()).decode()
    allowed = raw_exchange(
        proxy.port, (request + f"Proxy-Authorization: Basic {token}\r\n\r\n").encode()
    )
    assert allowed.split(b" ")[1] == b"200"


def _read_head(sock: socket.socket) -> bytes:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


# --------------------------------------------------------------------------
# Fixture machinery


def test_require_binary_skips_or_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        require_binary("hyper-no-such-server")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        require_binary("hyper-no-such-server")


def test_failure_report_shows_server_logs(pytester: pytest.Pytester) -> None:
    # Load this suite's conftest under another name: "conftest" is taken.
    outer_path = str(TESTS / "conftest.py")
    pytester.makeconftest(
        f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("outer_conftest", {outer_path!r})
        outer = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(outer)
        globals().update({{k: v for k, v in vars(outer).items() if not k.startswith("__")}})
        """
    )
    pytester.makepyfile(
        """
        def test_fails(h1_server):
            import urllib.request
            urllib.request.urlopen(h1_server.url + "/token/visible-in-log").read()
            assert False
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*server logs: h1_server*", "*GET /token/visible-in-log*"])


# --------------------------------------------------------------------------
# The leak check (tests/leaks.py)


def test_leak_check_names_an_open_socket() -> None:
    before = Snapshot.take()
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        port = listener.getsockname()[1]
        leaks = Snapshot.leaks_since(before, wait=0.2)
        assert leaks is not None
        assert f"tcp 127.0.0.1:{port} -> 0.0.0.0:0 LISTEN" in leaks
    finally:
        listener.close()
    assert Snapshot.leaks_since(before, wait=0.2) is None


def test_leak_check_waits_for_threads_to_finish() -> None:
    import threading

    before = Snapshot.take()
    release = threading.Event()
    thread = threading.Thread(target=release.wait, args=(TIMEOUT,), name="lingering")
    thread.start()
    try:
        leaks = Snapshot.leaks_since(before, wait=0.2)
        assert leaks is not None
        assert "lingering (daemon=False)" in leaks
    finally:
        release.set()
    # The thread ends during the bounded wait: no leak.
    assert Snapshot.leaks_since(before) is None
    thread.join(TIMEOUT)


def test_leak_is_reported_even_when_the_last_test_is_xfail(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    pytester.makepyfile(
        test_leaky="""
        import socket
        import pytest

        KEPT = []

        def test_opens_and_keeps():
            KEPT.append(socket.create_server(("127.0.0.1", 0)))

        @pytest.mark.xfail(strict=True, reason="expected")
        def test_expected_failure():
            assert False
        """,
        test_clean="""
        import socket

        def test_closes():
            socket.create_server(("127.0.0.1", 0)).close()
        """,
    )
    result = pytester.runpytest_subprocess(
        "-p", "leaks", "-p", "no:cacheprovider", timeout=120
    )
    result.assert_outcomes(passed=2, xfailed=1, errors=1)
    result.stdout.fnmatch_lines([
        "*ERROR at teardown of test_expected_failure*",
        "*test_leaky leaves behind what it opened:*",
        "*1 socket(s) still open:*",
        "*tcp 127.0.0.1:* -> 0.0.0.0:0 LISTEN*",
    ])


def test_known_leak_is_listed_not_failed(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(TESTS))
    # A module listed in KNOWN_LEAKS (tests/leaks.py), with its cause.
    pytester.makeconftest(
        """
        import leaks

        leaks.KNOWN_LEAKS["test_listed"] = "one socket kept on purpose"
        """
    )
    pytester.makepyfile(
        test_listed="""
        import socket

        KEPT = []

        def test_opens_and_keeps():
            KEPT.append(socket.create_server(("127.0.0.1", 0)))
        """
    )
    result = pytester.runpytest_subprocess(
        "-p", "leaks", "-p", "no:cacheprovider", timeout=120
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([
        "*known leaks (tests/leaks.py KNOWN_LEAKS)*",
        "*test_listed leaves behind what it opened:*",
        "*(known: one socket kept on purpose)*",
    ])
