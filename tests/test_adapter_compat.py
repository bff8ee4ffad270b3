"""HTTP20Adapter gives what HTTPAdapter gives.

Each scenario is written once and run through a requests Session with
HTTPAdapter and through one with HTTP20Adapter, against the same server;
the two results must be equal (and each scenario also checks its result
is the expected one, so two equally broken answers cannot pass). The
servers cover HTTP/2 over TLS, the HTTP/1.1 fallback chosen by ALPN, h2c
on plaintext and a plaintext HTTP/1.1-only server.
"""

from __future__ import annotations

import io
import json
import pickle
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from urllib3.util import SKIP_HEADER
from urllib3.util.retry import Retry

from app import payload
from hyper.contrib import HTTP20Adapter
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)

ORIGINS = {
    # name: (fixture, the version HTTP20Adapter negotiates)
    "h2": ("h2_server", 20),
    "http11-fallback-by-alpn": ("h1_tls_server", 11),
    "h2c-upgrade": ("h2c_server", 20),
    "http11-plaintext": ("h1_server", 11),
}

# Headers that differ by protocol or by moment, never by adapter (the JSON
# echoes are longer over HTTP/1.1, which has more request headers).
VOLATILE = {"date", "server", "connection", "keep-alive", "transfer-encoding", "host",
            "content-length", "upgrade", "http2-settings"}

Scenario = Callable[[requests.Session, str], Any]


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests prefers these to Session.verify; the tests set verify themselves.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(params=list(ORIGINS))
def origin(request: pytest.FixtureRequest) -> tuple[Server, int]:
    fixture, version = ORIGINS[request.param]
    return request.getfixturevalue(fixture), version


def session_with(adapter: requests.adapters.BaseAdapter, certs: Certs) -> requests.Session:
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.verify = str(certs.ca_path)
    return session


@pytest.fixture
def compare(certs: Certs) -> Iterator[Callable[[Scenario, str], tuple[Any, Any]]]:
    """``compare(scenario, base_url)`` runs it through both adapters and
    returns (HTTPAdapter's result, HTTP20Adapter's result)."""
    sessions: list[requests.Session] = []

    def run(scenario: Scenario, base: str) -> tuple[Any, Any]:
        results = []
        for adapter in (HTTPAdapter(), HTTP20Adapter()):
            session = session_with(adapter, certs)
            sessions.append(session)
            results.append(scenario(session, base))
        return results[0], results[1]

    yield run
    for session in sessions:
        session.close()


def outcome(fn: Callable[[], Any]) -> Any:
    """The value, or the exception's type name (requests' exceptions only)."""
    try:
        return fn()
    except requests.RequestException as exc:
        return f"raised {type(exc).__name__}"


def seen(response: requests.Response) -> dict[str, Any]:
    """What the app saw and answered, minus what depends on the protocol."""
    data = response.json()
    data.pop("http_version", None)
    data["headers"] = sorted(
        (name.lower(), value) for name, value in data["headers"]
        if name.lower() not in VOLATILE and not name.startswith(":"))
    return dict(data)


def summary(response: requests.Response) -> dict[str, Any]:
    # The reason phrase differs by protocol (HTTP/2 has none): see
    # test_reason_phrase.
    return {
        "status": response.status_code,
        "url": response.url,
        "ok": response.ok,
        "encoding": response.encoding,
        "history": [(r.status_code, r.url) for r in response.history],
        "headers": sorted((k.lower(), v) for k, v in response.headers.items()
                          if k.lower() not in VOLATILE),
    }


# -- the scenarios -----------------------------------------------------------------------------


def get_with_query_and_headers(s: requests.Session, base: str) -> Any:
    r = s.get(base + "/get?x=1&y=%20two#frag", headers={"X-Text": "value", "X-Bytes": b"raw"})
    return summary(r), seen(r)


def post_bodies(s: requests.Session, base: str) -> Any:
    def echo(**kwargs: Any) -> Any:
        r = s.post(base + "/anything", **kwargs)
        data = seen(r)
        return data["body"], data["json"], [h for h in data["headers"]
                                           if h[0] in ("content-type", "content-length")]

    return [
        echo(data=b"bytes body"),
        echo(data="text body, ascii"),
        echo(data={"form": "field", "other": "x y"}),
        echo(json={"a": [1, 2, 3]}),
        echo(data=io.BytesIO(b"from a file object")),
        echo(data=iter([b"gen", b"erat", b"ed"])),
        echo(data=b""),
    ]


def multipart_upload(s: requests.Session, base: str) -> Any:
    r = s.post(base + "/anything", files={"f": ("a.txt", b"file content")}, data={"k": "v"})
    data = seen(r)
    body = data["body"]
    return len(body), "file content" in body, r.status_code


def large_upload_and_download(s: requests.Session, base: str) -> Any:
    body = payload(3 * 1024 * 1024)
    echoed = s.post(base + "/echo", data=body).content
    downloaded = s.get(base + f"/bytes/{2 * 1024 * 1024 + 7}").content
    return echoed == body, downloaded == payload(2 * 1024 * 1024 + 7)


def redirects(s: requests.Session, base: str) -> Any:
    followed = s.get(base + "/redirect/3")
    not_followed = s.get(base + "/redirect/2", allow_redirects=False)
    # No body: the app does not read it, and a server then closes the
    # connection after its answer.
    post_to_get = s.post(base + "/redirect-to?url=/get&status=302")
    return (summary(followed), seen(followed)["path"], summary(not_followed),
            not_followed.is_redirect, seen(post_to_get)["method"])


def cookies(s: requests.Session, base: str) -> Any:
    r = s.get(base + "/cookies/set?first=1&second=two")
    after = s.get(base + "/cookies").json()
    repeated = s.get(base + "/headers/repeat")
    return (r.json(), sorted(s.cookies.items()), after, repeated.headers["set-cookie"],
            repeated.raw.headers.getlist("x-multi"), sorted(repeated.cookies.items()))


def basic_auth(s: requests.Session, base: str) -> Any:
    good = s.get(base + "/basic-auth/user/pass", auth=("user", "pass"))
    bad = s.get(base + "/basic-auth/user/pass", auth=("user", "wrong"))
    return good.status_code, good.json(), bad.status_code, bad.headers["www-authenticate"]


def hooks_and_raise_for_status(s: requests.Session, base: str) -> Any:
    calls: list[int] = []
    r = s.get(base + "/status/404", hooks={"response": lambda r, **kw: calls.append(r.status_code)})
    error = outcome(r.raise_for_status)
    try:
        r.raise_for_status()
        message = None
    except requests.HTTPError as exc:
        # The reason phrase in it differs by protocol (test_reason_phrase).
        message = str(exc).replace(r.reason, "")
    return calls, error, message, s.get(base + "/status/204").content


def streaming(s: requests.Session, base: str) -> Any:
    r = s.get(base + "/stream/100000", stream=True)
    chunks = list(r.iter_content(chunk_size=7000))
    lines = s.get(base + "/anything/a?x=1", stream=True)
    return (b"".join(chunks) == payload(100000), all(len(c) <= 7000 for c in chunks),
            [line[:20] for line in lines.iter_lines()], r.raw.closed)


def decoding(s: requests.Session, base: str) -> Any:
    results = {}
    for coding in ("gzip", "deflate", "brotli", "zstd"):
        r = s.get(base + f"/{coding}")
        try:
            decoded = r.json().get(coding)
        except ValueError:
            # urllib3 decodes zstd only with a zstd module it supports.
            decoded = None
        results[coding] = (decoded, r.headers["content-encoding"])
    raw = s.get(base + "/gzip", stream=True).raw.read(decode_content=False)
    return results, raw[:2]


def partial_read_then_close(s: requests.Session, base: str) -> Any:
    r = s.get(base + f"/bytes/{1024 * 1024}", stream=True)
    first = r.raw.read(10)
    r.close()
    after = s.get(base + "/token/after")
    return first == payload(10), after.text, r.raw.closed


def head_and_no_content(s: requests.Session, base: str) -> Any:
    head = s.head(base + "/get")
    return head.status_code, head.content, "content-length" in head.headers, \
        s.get(base + "/status/204").status_code


def skip_header(s: requests.Session, base: str) -> Any:
    r = s.get(base + "/get", headers={"User-Agent": SKIP_HEADER, "Accept-Encoding": SKIP_HEADER})
    names = [name for name, _ in seen(r)["headers"]]
    return "user-agent" in names, "accept-encoding" in names


def host_and_hop_by_hop_headers(s: requests.Session, base: str) -> Any:
    # Host becomes :authority on HTTP/2; the HTTP/1.1 connection headers
    # (forbidden in HTTP/2, RFC 9113 section 8.2.2) are dropped there.
    r = s.get(base + "/get", headers={"Host": "alias.test:8443", "Connection": "keep-alive",
                                      "Keep-Alive": "timeout=5", "X-After": "kept"})
    headers = r.json()["headers"]
    return ([value for name, value in headers if name.lower() == "host"],
            [value for name, value in headers if name.lower() == "x-after"])


def elapsed_and_misc(s: requests.Session, base: str) -> Any:
    r = s.get(base + "/get")
    return (isinstance(r.elapsed, timedelta), r.connection is not None, r.apparent_encoding,
            r.raw.isclosed(), r.raw.tell() > 0, r.raw.status)


def read_timeout(s: requests.Session, base: str) -> Any:
    # Connecting must succeed even on a loaded machine: 10 s. The slow body's
    # head must come within the read timeout, its body (10 s later) must not.
    slow_headers = outcome(lambda: s.get(base + "/delay/10", timeout=(10, 0.5)))
    r = s.get(base + "/slow-body/10", timeout=(10, 2), stream=True)
    slow_body = outcome(lambda: r.content)
    malformed = None
    try:
        s.get(base + "/get", timeout=(1, 2, 3))  # type: ignore[arg-type]
    except ValueError as exc:
        malformed = "(connect, read)" in str(exc)
    return slow_headers, slow_body, malformed, s.get(base + "/token/ok", timeout=(5, 5)).text


def retried(s: requests.Session, base: str, retry: Retry | int, path: str,
            method: str = "GET") -> Any:
    """``path`` (under /flaky/, a fresh token appended) through an adapter
    of the session's class made with ``max_retries=retry``: the status and
    the attempt that answered, or the exception and its cause's type."""
    adapter = type(s.get_adapter(base + "/"))(max_retries=retry)
    s.mount(base + "/flaky/", adapter)
    path, _, query = path.partition("?")
    url = f"{base}/flaky/{path}/{uuid.uuid4().hex}" + (f"?{query}" if query else "")
    try:
        r = s.request(method, url, timeout=(10, 5))
        return r.status_code, r.text
    except requests.RequestException as exc:
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return f"raised {type(exc).__name__}", type(reason).__name__
    finally:
        adapter.close()


def status_retries(s: requests.Session, base: str) -> Any:
    forced = Retry(total=3, status_forcelist=[500], backoff_factor=0.01)
    return [
        retried(s, base, forced, "500/2"),
        retried(s, base, forced, "500/9"),
        retried(s, base, Retry(total=3, status_forcelist=[500], raise_on_status=False), "500/9"),
        # POST is not among Retry's allowed_methods by default.
        retried(s, base, forced, "500/1", "POST"),
        retried(s, base, Retry(total=3, status_forcelist=[500], allowed_methods=["POST"]),
                "500/1", "POST"),
        retried(s, base, Retry(total=None, status=1, status_forcelist=[502]), "502/5"),
        # An int is Retry(total=n): no status retries.
        retried(s, base, 3, "500/1"),
        # 503 with Retry-After is retried without a status_forcelist.
        retried(s, base, Retry(total=2), "503/1?retry-after=0"),
        retried(s, base, Retry(total=2, respect_retry_after_header=False), "503/1?retry-after=0"),
    ]


def read_retries(s: requests.Session, base: str) -> Any:
    def slow(retry: Retry, method: str = "GET") -> Any:
        adapter = type(s.get_adapter(base + "/"))(max_retries=retry)
        s.mount(base + "/delay/", adapter)
        try:
            return outcome(lambda: s.request(method, base + "/delay/10", timeout=(10, 0.3)))
        finally:
            adapter.close()

    return [slow(Retry(total=1, read=1)), slow(Retry(total=1, read=1), "POST"),
            slow(Retry(total=1, read=False))]


SCENARIOS: dict[str, Scenario] = {
    "get": get_with_query_and_headers,
    "post-bodies": post_bodies,
    "multipart": multipart_upload,
    "large": large_upload_and_download,
    "redirects": redirects,
    "cookies": cookies,
    "basic-auth": basic_auth,
    "hooks-raise-for-status": hooks_and_raise_for_status,
    "streaming": streaming,
    "decoding": decoding,
    "partial-read": partial_read_then_close,
    "head-204": head_and_no_content,
    "skip-header": skip_header,
    "elapsed-misc": elapsed_and_misc,
    "host-header": host_and_hop_by_hop_headers,
    "read-timeout": read_timeout,
    "status-retries": status_retries,
    "read-retries": read_retries,
}

EXPECTED: dict[str, Callable[[Any], bool]] = {
    "get": lambda r: r[0]["status"] == 200 and r[1]["query"] == "x=1&y=%20two"
    and ("x-bytes", "raw") in r[1]["headers"],
    "post-bodies": lambda r: r[0][0] == "bytes body" and r[3][1] == {"a": [1, 2, 3]}
    and r[5][0] == "generated",
    "multipart": lambda r: r[1] and r[2] == 200,
    "large": lambda r: r == (True, True),
    "redirects": lambda r: len(r[0]["history"]) == 3 and r[1] == "/get" and r[3] and r[4] == "GET",
    "cookies": lambda r: r[2] == {"cookies": {"first": "1", "second": "two"}}
    and r[4] == ["one", "two"],
    "basic-auth": lambda r: r[0] == 200 and r[2] == 401,
    "hooks-raise-for-status": lambda r: r[0] == [404] and r[1] == "raised HTTPError"
    and r[3] == b"",
    "streaming": lambda r: r[0] and r[1] and r[3],
    "decoding": lambda r: r[0]["gzip"][0] and r[0]["deflate"][0] and r[0]["brotli"][0]
    and r[1] == b"\x1f\x8b",
    "partial-read": lambda r: r[0] and r[1] == "after",
    "head-204": lambda r: r == (200, b"", True, 204),
    "skip-header": lambda r: r == (False, False),
    "host-header": lambda r: r == (["alias.test:8443"], ["kept"]),
    "elapsed-misc": lambda r: r[0] and r[1] and r[3] and r[4] and r[5] == 200,
    "read-timeout": lambda r: r[0] == "raised ReadTimeout" and r[1] == "raised ConnectionError"
    and r[2] is True and r[3] == "ok",
    "status-retries": lambda r: r == [
        (200, "3"), ("raised RetryError", "ResponseError"), (500, "4"), (500, "1"), (200, "2"),
        ("raised RetryError", "ResponseError"), (500, "1"), (200, "2"), (503, "1")],
    # Read retries used up: MaxRetryError(ReadTimeoutError), which requests
    # reports as ConnectionError; POST and read=False re-raise the timeout.
    "read-retries": lambda r: r == ["raised ConnectionError", "raised ReadTimeout",
                                    "raised ReadTimeout"],
}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_same_result_as_httpadapter(
    name: str, origin: tuple[Server, int],
    compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    server, _ = origin
    reference, ours = compare(SCENARIOS[name], server.url)
    assert ours == reference
    assert EXPECTED[name](ours), ours


def test_reason_phrase(
    origin: tuple[Server, int], compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    server, version = origin

    def scenario(s: requests.Session, base: str) -> Any:
        return [s.get(base + path).reason for path in ("/get", "/status/404", "/status/418")]

    reference, ours = compare(scenario, server.url)
    if version == 20:
        # HTTP/2 has no reason phrase: the standard one stands in.
        assert ours == ["OK", "Not Found", "I'm a Teapot"]
    else:
        # HTTP/1.1: the server's, as http.client reports it (hypercorn sends none).
        assert ours == reference


def test_protocol_versions_reported_like_urllib3(
    origin: tuple[Server, int], certs: Certs,
) -> None:
    server, version = origin
    with session_with(HTTP20Adapter(), certs) as session:
        r = session.get(server.url + "/get")
        assert r.raw.version == version
        assert r.raw._original_response.version == version
        assert r.json()["http_version"] == {20: "2", 11: "1.1"}[version]


# -- TLS settings ------------------------------------------------------------------------------


def tls_outcomes(s: requests.Session, base: str, certs: Certs) -> Any:
    return (
        outcome(lambda: s.get(base + "/get", verify=True).status_code),
        outcome(lambda: s.get(base + "/get", verify=str(certs.ca_path)).status_code),
        outcome(lambda: s.get(base + "/get", verify=str(certs.ca_path.parent)).status_code),
    )


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_settings(
    h2_server: Server, h1_tls_server: Server, certs: Certs,
    compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    for server in (h2_server, h1_tls_server):
        reference, ours = compare(lambda s, base: tls_outcomes(s, base, certs), server.url)
        assert ours == reference
        # certifi does not know the test CA; a directory without hashed
        # names holds no usable CA either.
        assert ours[0] == "raised SSLError" and ours[1] == 200
        reference, ours = compare(
            lambda s, base: s.get(base + "/get", verify=False).status_code, server.url)
        assert ours == reference == 200


def test_unverified_request_warns_as_urllib3_does(h2_server: Server, certs: Certs) -> None:
    import urllib3

    with session_with(HTTP20Adapter(), certs) as session, \
            pytest.warns(urllib3.exceptions.InsecureRequestWarning):
        session.get(h2_server.url + "/get", verify=False)


def test_missing_ca_path_raises_oserror_with_httpadapters_message(
    h2_server: Server, certs: Certs, compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    def scenario(s: requests.Session, base: str) -> Any:
        try:
            s.get(base + "/get", verify="/nonexistent/ca.pem")
        except OSError as exc:
            return type(exc).__name__, str(exc)
        return None

    reference, ours = compare(scenario, h2_server.url)
    assert ours == reference
    assert ours[1].startswith("Could not find a suitable TLS CA certificate bundle")


def test_session_verify_and_requests_ca_bundle(
    h2_server: Server, certs: Certs, monkeypatch: pytest.MonkeyPatch,
) -> None:
    with session_with(HTTP20Adapter(), certs) as session:
        assert session.get(h2_server.url + "/get").status_code == 200
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certs.ca_path))
    with requests.Session() as session:
        session.mount("https://", HTTP20Adapter())
        r = session.get(h2_server.url + "/get")
        assert (r.status_code, r.raw.version) == (200, 20)


def test_client_certificate(
    start_hypercorn: Any, certs: Certs, compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    import ssl

    server = start_hypercorn(True, verify_mode=ssl.CERT_REQUIRED, ca_certs=str(certs.ca_path))

    def scenario(s: requests.Session, base: str) -> Any:
        pair = s.get(base + "/get", cert=(str(certs.client_cert_path),
                                          str(certs.client_key_path)))
        combined = s.get(base + "/get", cert=str(certs.client_combined_path))
        try:
            s.get(base + "/get", cert="/nonexistent.pem")
            missing = None
        except OSError as exc:
            missing = str(exc)
        without = outcome(lambda: s.get(base + "/get").status_code)
        return pair.status_code, combined.status_code, missing, without

    reference, ours = compare(scenario, server.url)
    assert ours[:3] == reference[:3]
    assert ours[:2] == (200, 200)
    assert ours[2] == "Could not find the TLS certificate file, invalid path: /nonexistent.pem"
    # Without a certificate the server refuses: during the handshake (TLS
    # 1.2) or at the first read (TLS 1.3), so either error class.
    assert ours[3] in ("raised SSLError", "raised ConnectionError")


# -- errors ------------------------------------------------------------------------------------


def test_connection_refused(
    compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    import socket

    # Bound but not listening: refused, and no other process (nor a connect
    # picking it as its own source port) can take the port meanwhile.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        for scheme in ("http", "https"):
            reference, ours = compare(
                lambda s, base: outcome(lambda: s.get(base + "/get", timeout=5)),
                f"{scheme}://127.0.0.1:{port}")
            assert ours == reference == "raised ConnectionError"


def test_tls_handshake_timeout_is_a_connect_timeout(
    compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    """A documented difference: urllib3 reports a TLS handshake that times
    out as a ReadTimeout; hyper counts the handshake as connecting, so it is
    a ConnectTimeout (both are requests.Timeout)."""
    import socket

    # Accepts TCP connections (the kernel does) but never answers TLS.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        base = f"https://127.0.0.1:{listener.getsockname()[1]}"
        reference, ours = compare(
            lambda s, b: outcome(lambda: s.get(b + "/get", timeout=(0.5, 5))), base)
    assert (reference, ours) == ("raised ReadTimeout", "raised ConnectTimeout")


# -- proxies -----------------------------------------------------------------------------------


def test_proxies(
    h1_server: Server, h2_server: Server, tinyproxy_server: Any, tinyproxy_auth_server: Any,
    compare: Callable[[Scenario, str], tuple[Any, Any]],
) -> None:
    def scenario(s: requests.Session, base: str) -> Any:
        plain = {"http": tinyproxy_server.url, "https": tinyproxy_server.url}
        authed = {"http": tinyproxy_auth_server.url_with_auth,
                  "https": tinyproxy_auth_server.url_with_auth}
        refused = {"http": tinyproxy_auth_server.url, "https": tinyproxy_auth_server.url}
        results = []
        for proxies in (plain, authed, refused):
            for url in (h1_server.url + "/token/p", h2_server.url + "/token/p"):
                try:
                    r = s.get(url, proxies=proxies)
                except requests.RequestException as exc:
                    results += [f"raised {type(exc).__name__}"] * 2
                else:
                    results += [r.text, r.status_code]
        return results

    reference, ours = compare(scenario, "")
    assert ours == reference
    assert ours[:8] == ["p", 200] * 4
    assert ours[8].startswith("<?xml") and ours[9:] == [407, "raised ProxyError",
                                                        "raised ProxyError"]


def test_http2_inside_a_connect_tunnel(
    h2_server: Server, tinyproxy_server: Any, certs: Certs,
) -> None:
    with session_with(HTTP20Adapter(), certs) as session:
        r = session.get(h2_server.url + "/get", proxies={"https": tinyproxy_server.url})
        assert (r.status_code, r.raw.version, r.json()["http_version"]) == (200, 20, "2")


# -- adapter life cycle ------------------------------------------------------------------------


def test_pickle_close_and_reuse(h2_server: Server, certs: Certs) -> None:
    adapter = HTTP20Adapter(pool_maxsize=3, h2c="off")
    with session_with(adapter, certs) as session:
        assert session.get(h2_server.url + "/token/one").text == "one"
        copy = pickle.loads(pickle.dumps(adapter))
        assert (copy._pool_maxsize, copy.h2c) == (3, adapter.h2c)
        session.close()
        # A closed session's adapters still work (as with HTTPAdapter).
        assert session.get(h2_server.url + "/token/two").text == "two"
    with session_with(copy, certs) as again:
        assert again.get(h2_server.url + "/token/three").text == "three"
    session_copy = pickle.loads(pickle.dumps(session))
    session_copy.verify = str(certs.ca_path)
    assert session_copy.get(h2_server.url + "/token/four").text == "four"
    session_copy.close()


def test_json_of_a_pickled_session_response(h2_server: Server, certs: Certs) -> None:
    with session_with(HTTP20Adapter(), certs) as session:
        r = session.get(h2_server.url + "/get")
        restored = pickle.loads(pickle.dumps(r))
        assert json.loads(restored.content) == r.json()
