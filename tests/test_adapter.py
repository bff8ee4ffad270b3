"""HTTP20Adapter on its own: concurrency through one adapter, the raw
response, error mapping, configuration. (Equality with HTTPAdapter is in
test_adapter_compat.py.)"""

from __future__ import annotations

import io
import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import urllib3

import hyper.exceptions as hx
from app import payload
from concurrency import run_threads
from h2peer import Harness, expect_request, handshake, respond, send_data, send_headers, send_rst
from hyper.common.timeouts import TimeoutConfig
from hyper.contrib import HTTP20Adapter
from hyper.contrib._errors import body_error
from hyper.contrib._origin import timeout_config
from hyper.contrib._raw import reason_phrase
from hyper.pool import ConnectionPool, PoolConnection, PoolKey, TLSSettings, make_context
from hyper.pool import default_connection_factory as default_factory
from servers import Certs, Server

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def adapter() -> Iterator[HTTP20Adapter]:
    adapter = HTTP20Adapter()
    yield adapter
    adapter.close()


def session_for(adapter: HTTP20Adapter, certs: Certs) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = str(certs.ca_path)
    return session


# -- many threads, one adapter -----------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["h2_server", "h1_tls_server", "h2c_server"])
def test_stress_many_threads_share_one_adapter(
    fixture: str, request: pytest.FixtureRequest, certs: Certs, adapter: HTTP20Adapter,
) -> None:
    """Every response is checked against its own request: zero lost, zero
    mismatched (bounded: 16 threads x 20 requests, 60 s)."""
    server: Server = request.getfixturevalue(fixture)
    answered: dict[str, str] = {}
    lock = threading.Lock()

    # One session per thread, one adapter for all. (A session's close()
    # would close the shared adapter's connections, as with HTTPAdapter.)
    sessions = [session_for(adapter, certs) for _ in range(16)]

    def work(i: int) -> None:
        session = sessions[i]
        for j in range(20):
            token = f"s{i}-{j}"
            if j % 4 == 3:
                r = session.post(server.url + "/echo", data=token.encode() * 1000)
                got = r.content[:len(token)].decode()
                assert r.content == token.encode() * 1000, token
            else:
                r = session.get(server.url + f"/token/{token}")
                got = r.text
                assert r.headers["x-token"] == token
            with lock:
                answered[token] = got

    run_threads(16, work)
    assert len(answered) == 16 * 20
    assert [token for token, got in answered.items() if token != got] == []
    (key,) = adapter.pool.pool_keys()
    if fixture == "h2_server":
        # One HTTP/2 connection carried every thread's requests.
        assert len(adapter.pool.connections(key)) == 1


def test_low_stream_limit_through_the_adapter(
    start_hypercorn: Any, certs: Certs, adapter: HTTP20Adapter,
) -> None:
    server = start_hypercorn(True, h2_max_concurrent_streams=2)
    results: dict[int, int] = {}

    session = session_for(adapter, certs)

    def work(i: int) -> None:
        r = session.get(server.url + f"/delay/0.2?n={i}")
        assert r.json()["query"] == f"n={i}"
        results[i] = r.raw.version

    run_threads(50, work)
    assert results == dict.fromkeys(range(50), 20)


def test_goaway_after_n_requests_through_the_adapter(
    start_nginx: Any, certs: Certs, adapter: HTTP20Adapter,
) -> None:
    nginx = start_nginx("keepalive_requests 3;")

    session = session_for(adapter, certs)

    def work(i: int) -> None:
        for j in range(8):
            token = f"g{i}-{j}"
            assert session.get(nginx.url + f"/app/token/{token}").text == token

    run_threads(6, work)


# -- the raw response --------------------------------------------------------------------------


def test_raw_is_a_urllib3_response(h2_server: Server, certs: Certs, adapter: HTTP20Adapter,
                                   tmp_path: Any) -> None:
    with session_for(adapter, certs) as session:
        r = session.get(h2_server.url + "/headers/repeat", stream=True)
        raw = r.raw
        assert isinstance(raw, urllib3.HTTPResponse)
        assert (raw.status, raw.version, raw.reason) == (200, 20, "OK")
        assert raw.headers.getlist("set-cookie") == ["first=1; Path=/", "second=2; Path=/"]
        original = raw._original_response
        assert original.msg.get_all("Set-Cookie") == ["first=1; Path=/", "second=2; Path=/"]
        assert original.getheader("x-multi") == "one, two"
        assert (original.version, original.status, original.reason) == (20, 200, "OK")
        assert not raw.closed and not original.isclosed()
        assert b"".join(raw.stream(4)) == b"repeated headers\n"
        assert raw.closed and raw.isclosed() and original.isclosed()
        raw.release_conn()
        assert sorted(session.cookies.items()) == [("first", "1"), ("second", "2")]

        # shutil.copyfileobj(r.raw, f) with decode_content, as users do.
        r = session.get(h2_server.url + "/gzip", stream=True)
        r.raw.decode_content = True
        target = tmp_path / "out.json"
        with open(target, "wb") as f:
            shutil.copyfileobj(r.raw, f)
        assert b'"gzip": true' in target.read_bytes()

        r = session.get(h2_server.url + "/token/data", stream=True)
        assert r.raw.data == b"data"


def test_stream_true_reads_lazily(h2_server: Server, certs: Certs,
                                  adapter: HTTP20Adapter) -> None:
    size = 256 * 1024 * 1024
    with session_for(adapter, certs) as session:
        r = session.get(h2_server.url + f"/stream/{size}", stream=True)
        # No Content-Length: the body comes as it arrives, at most 64 KiB at a time.
        first = next(r.iter_content(64 * 1024))
        assert 0 < len(first) <= 64 * 1024 and first == payload(len(first))
        # Only a little of the body has been received, not all 256 MiB.
        assert r.raw.tell() < 16 * 1024 * 1024
        r.close()
        assert session.get(h2_server.url + "/token/next").text == "next"


def test_session_close_closes_pooled_connections(
    h2_server: Server, certs: Certs, adapter: HTTP20Adapter,
) -> None:
    session = session_for(adapter, certs)
    session.get(h2_server.url + "/get")
    (key,) = adapter.pool.pool_keys()
    (conn,) = adapter.pool.connections(key)
    assert adapter.connections == {f"{key.host}:{key.port}": [conn]}
    session.close()
    assert adapter.pool.connections(key) == []
    assert conn.connection is None  # type: ignore[attr-defined]


def test_build_response_can_be_overridden(h2_server: Server, certs: Certs) -> None:
    class Tagging(HTTP20Adapter):
        def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
            response = super().build_response(req, resp)
            response.headers["x-built-by"] = "subclass"
            return response

    with session_for(Tagging(), certs) as session:
        assert session.get(h2_server.url + "/get").headers["x-built-by"] == "subclass"


@pytest.mark.parametrize(("h2c", "version"), [("upgrade", 20), ("prior-knowledge", 20),
                                              ("off", 11)])
def test_h2c_modes(h2c: str, version: int, h2c_server: Server, certs: Certs) -> None:
    with session_for(HTTP20Adapter(h2c=h2c), certs) as session:
        r = session.get(h2c_server.url + "/get")
        assert (r.raw.version, r.json()["http_version"]) == (version, {20: "2", 11: "1.1"}[version])


# -- failures from a scripted server -----------------------------------------------------------


@pytest.fixture
def peers() -> Iterator[Harness]:
    harness = Harness("whole")
    yield harness
    harness.teardown()


def adapter_with_factory(factory: Any, **options: Any) -> HTTP20Adapter:
    """An HTTP20Adapter whose pool makes connections with ``factory``."""

    class Factory(HTTP20Adapter):
        def make_pool(self, connections: int, maxsize: int, block: bool) -> ConnectionPool:
            return ConnectionPool(maxsize=maxsize, block=block, max_keys=connections,
                                  connection_factory=factory)

    return Factory(**options)


def peer_session(peer: Any) -> tuple[requests.Session, str]:
    session = requests.Session()
    session.mount("http://", HTTP20Adapter(h2c="prior-knowledge"))
    return session, f"http://127.0.0.1:{peer.port}"


def test_stream_reset_mid_body_is_a_chunked_encoding_error(peers: Harness) -> None:
    peer = peers.start([handshake(), expect_request("r"),
                        send_headers("r", [(":status", "200")]),
                        send_data("r", b"partial"),
                        send_rst("r", 2)])
    session, base = peer_session(peer)
    r = session.get(base + "/", stream=True, timeout=5)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        r.content  # noqa: B018
    session.close()
    peers.finish()


def test_undecodable_body_is_a_content_decoding_error(peers: Harness) -> None:
    peer = peers.start([handshake(), expect_request("r"),
                        respond("r", b"this is not gzip",
                                headers=[("content-encoding", "gzip")])])
    session, base = peer_session(peer)
    with pytest.raises(requests.exceptions.ContentDecodingError):
        session.get(base + "/", timeout=5)
    session.close()
    peers.finish()


def test_request_the_server_never_processed_is_retried(peers: Harness) -> None:
    from h2peer import send_goaway

    first = peers.start([handshake(), expect_request("r"), send_goaway(0)])
    second = peers.start([handshake(), expect_request("r"), respond("r", b"second")])
    ports = iter([first.port, second.port])

    def factory(key: PoolKey, context: Any, config: TimeoutConfig) -> PoolConnection:
        return default_factory(PoolKey("http", "127.0.0.1", next(ports), h2c=key.h2c),
                               context, config)

    adapter = adapter_with_factory(factory, h2c="prior-knowledge")
    with requests.Session() as session:
        session.mount("http://", adapter)
        r = session.post(f"http://127.0.0.1:{first.port}/", data=io.BytesIO(b"body"), timeout=5)
        assert r.text == "second"
    peers.finish()
    assert [r.path for r in first.requests.values()] == ["/"]
    assert [r.path for r in second.requests.values()] == ["/"]


# -- error mapping, piece by piece -------------------------------------------------------------


class FailingConnection:
    """A connection that fails to connect with a given hyper error."""

    version = None

    def __init__(self, error: hx.HyperError) -> None:
        self.error = error

    def connect(self) -> None:
        raise self.error

    def close(self) -> None:
        """Nothing is open."""


@pytest.mark.parametrize(("ours", "theirs"), [
    (hx.ConnectTimeout, requests.exceptions.ConnectTimeout),
    (hx.ReadTimeout, requests.exceptions.ReadTimeout),
    (hx.WriteTimeout, requests.exceptions.ReadTimeout),
    (hx.PoolTimeout, urllib3.exceptions.EmptyPoolError),
    (hx.ConnectError, requests.exceptions.ConnectionError),
    (hx.TLSError, requests.exceptions.SSLError),
    (hx.ProxyError, requests.exceptions.ProxyError),
    (hx.InvalidHeaderError, requests.exceptions.InvalidHeader),
    # urllib3 2 refuses disagreeing Content-Length values with InvalidHeader.
    (hx.InvalidContentLengthError, requests.exceptions.InvalidHeader),
    (hx.InvalidURLError, urllib3.exceptions.LocationValueError),
    (hx.ContentDecodingError, requests.exceptions.ConnectionError),
    (hx.ConnectionClosed, requests.exceptions.ConnectionError),
    (hx.StreamResetError, requests.exceptions.ConnectionError),
    (hx.StreamNotProcessedError, requests.exceptions.ConnectionError),
    (hx.HTTP2ConnectionError, requests.exceptions.ConnectionError),
    (hx.HTTP11Error, requests.exceptions.ConnectionError),
    (hx.LocalProtocolError, requests.exceptions.ConnectionError),
])
def test_send_errors_end_as_httpadapter_ends_urllib3s(
    ours: type[hx.HyperError], theirs: type[Exception],
) -> None:
    """Each hyper error becomes the urllib3 error urllib3 raises for that
    failure, which requests' own send() maps (EmptyPoolError and
    LocationValueError it lets through, so HTTPAdapter's users see them too)."""
    cause = ours("boom")
    adapter = adapter_with_factory(lambda key, context, config: FailingConnection(cause),
                                   h2c="off")
    with requests.Session() as session:
        session.mount("http://", adapter)
        with pytest.raises(theirs) as raised:
            session.get("http://127.0.0.1:9/", timeout=5)
    error: BaseException | None = raised.value
    while error is not None and error is not cause:
        error = error.__cause__ or getattr(error, "reason", None) or (
            error.args[0] if error.args and isinstance(error.args[0], BaseException) else None)
    assert error is cause


@pytest.mark.parametrize(("ours", "theirs"), [
    (hx.ReadTimeout, urllib3.exceptions.ReadTimeoutError),
    (hx.TLSError, urllib3.exceptions.SSLError),
    (hx.ConnectionClosed, urllib3.exceptions.ProtocolError),
    (hx.StreamResetError, urllib3.exceptions.ProtocolError),
    (hx.HTTP2ConnectionError, urllib3.exceptions.ProtocolError),
    # requests' iter_content turns it into ChunkedEncodingError.
    (hx.InvalidChunkedBodyError, urllib3.exceptions.ProtocolError),
])
def test_body_errors_are_urllib3s(ours: type[hx.HyperError],
                                  theirs: type[urllib3.exceptions.HTTPError]) -> None:
    assert type(body_error(ours("boom"), None)) is theirs


def test_invalid_requests_raise_requests_exceptions(h2_server: Server, certs: Certs,
                                                   adapter: HTTP20Adapter) -> None:
    with session_for(adapter, certs) as session:
        prepared = session.prepare_request(requests.Request("GET", h2_server.url + "/get"))
        prepared.headers["X-Bad"] = "split\r\nInjected: yes"
        with pytest.raises(requests.exceptions.InvalidHeader):
            adapter.send(prepared, verify=str(certs.ca_path))
        prepared.headers["X-Bad"] = {"not": "a value"}  # type: ignore[assignment]
        with pytest.raises(TypeError, match="X-Bad"):
            adapter.send(prepared, verify=str(certs.ca_path))
        with pytest.raises(requests.exceptions.InvalidURL, match="ftp"):
            session.get(h2_server.url, proxies={"https": "ftp://127.0.0.1:1080"})
        with pytest.raises(requests.exceptions.InvalidProxyURL):
            session.get(h2_server.url, proxies={"https": "http://:8080"})
        prepared = session.prepare_request(requests.Request("GET", h2_server.url))
        prepared.url = "https://localhost:99999/"
        with pytest.raises(requests.exceptions.InvalidURL):
            adapter.send(prepared)


def test_timeout_config() -> None:
    assert timeout_config(None) == TimeoutConfig(None, None)
    assert timeout_config(3) == TimeoutConfig(3.0, 3.0)
    assert timeout_config(urllib3.Timeout(connect=2, read=4)) == TimeoutConfig(2.0, 4.0)
    assert timeout_config(urllib3.Timeout()) == TimeoutConfig(None, None)
    total = timeout_config(urllib3.Timeout(total=5))
    assert total.connect == 5.0 and total.read == pytest.approx(5.0, abs=0.5)
    with pytest.raises(ValueError):
        timeout_config(-1)


def test_reason_phrase() -> None:
    assert reason_phrase(200, "", 20) == "OK"
    assert reason_phrase(599, "", 20) == ""
    assert reason_phrase(200, "Fine", 11) == "Fine"
    assert reason_phrase(200, "", 11) == ""


# -- configuration -----------------------------------------------------------------------------


def test_constructor_takes_httpadapters_arguments() -> None:
    adapter = HTTP20Adapter(None, 5, 7, 2, True)
    assert (adapter._pool_connections, adapter._pool_maxsize, adapter._pool_block) == (5, 7, True)
    assert adapter.max_retries.total == 2
    assert HTTP20Adapter().max_retries.read is False
    with pytest.raises(TypeError, match="unknown_option"):
        HTTP20Adapter(unknown_option=1)
    with pytest.raises(TypeError, match="positional"):
        HTTP20Adapter(None, 1, 2, 3, False, "extra")
    with pytest.raises(ValueError):
        HTTP20Adapter(h2c="sometimes")


def test_connect_retries_from_max_retries(certs: Certs) -> None:
    attempts: list[int] = []

    def factory(key: PoolKey, context: Any, config: TimeoutConfig) -> PoolConnection:
        attempts.append(key.port)
        return default_factory(key, context, config)

    adapter = adapter_with_factory(factory, max_retries=2)
    # Bound but not listening: refused, and no other process (nor a connect
    # picking it as its own source port) can take the port meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        with session_for(adapter, certs) as session, pytest.raises(requests.ConnectionError):
            session.get(f"http://127.0.0.1:{port}/", timeout=5)
    assert attempts == [port] * 3


def test_ciphers_and_tls_version(h2_server: Server, certs: Certs) -> None:
    pinned = HTTP20Adapter(ciphers="ECDHE+AESGCM", ssl_version=ssl.TLSVersion.TLSv1_2)
    with session_for(pinned, certs) as session:
        r = session.get(h2_server.url + "/get")
        assert (r.status_code, r.raw.version) == (200, 20)
    context = make_context(TLSSettings(str(certs.ca_path), None, "ECDHE+AESGCM",
                                       ssl.TLSVersion.TLSv1_2))
    assert context.minimum_version == context.maximum_version == ssl.TLSVersion.TLSv1_2
    suites = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert suites and all("GCM" in name for name in suites)
    with session_for(HTTP20Adapter(ciphers="NO-SUCH-CIPHER"), certs) as session, \
            pytest.raises(requests.exceptions.SSLError):
        session.get(h2_server.url + "/get")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_old_tls_versions_offer_http11_only() -> None:
    context = make_context(TLSSettings(True, None, None, ssl.TLSVersion.TLSv1_1))
    assert context.maximum_version == ssl.TLSVersion.TLSv1_1
    key = PoolKey("https", "localhost", 443, TLSSettings(True, None, None,
                                                         ssl.TLSVersion.TLSv1_1))
    assert not key.h2_on_connect
