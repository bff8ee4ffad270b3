"""What requests' users see when something fails, through HTTPAdapter and
through HTTP20Adapter: the same exception types and, where users and
requests' own tests match on it, the same text. Real servers and refused
ports on loopback."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from hyper.contrib import HTTP20Adapter
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)

Outcome = tuple[str, str]


@pytest.fixture(autouse=True)
def _no_proxy_or_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY",
                 "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def refused_port() -> Iterator[int]:
    # Bound but not listening: refused, and no one else can take the port.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def both(certs: Certs, call: Callable[[requests.Session], Any]) -> list[Outcome]:
    """``call`` through HTTPAdapter, then HTTP20Adapter: (exception type, text)."""
    outcomes = []
    for adapter in (HTTPAdapter(), HTTP20Adapter()):
        with requests.Session() as session:
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.verify = str(certs.ca_path)
            try:
                call(session)
            except Exception as exc:  # what is raised is what is compared
                outcomes.append((type(exc).__name__, str(exc)))
            else:
                outcomes.append(("no error", ""))
    return outcomes


@pytest.mark.parametrize("fixture", ["h2_server", "h1_server"])
def test_read_timeout_says_read_timed_out(
    fixture: str, request: pytest.FixtureRequest, certs: Certs,
) -> None:
    server: Server = request.getfixturevalue(fixture)
    reference, ours = both(certs, lambda s: s.get(server.url + "/delay/10", timeout=(10, 0.5)))
    assert reference[0] == ours[0] == "ReadTimeout"
    assert "Read timed out. (read timeout=0.5)" in reference[1]
    assert ours[1] == reference[1]


@pytest.mark.parametrize("fixture", ["h2_server", "h1_server"])
@pytest.mark.parametrize("limit", [1, 101, float("inf")])
def test_http_client_header_limit_is_honoured(
    fixture: str, limit: float, request: pytest.FixtureRequest, certs: Certs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HTTPie's --max-headers sets http.client._MAXHEADERS; both adapters
    obey it, whatever the limit (the response has over 100 fields)."""
    server: Server = request.getfixturevalue(fixture)
    monkeypatch.setattr(http.client, "_MAXHEADERS", limit)
    reference, ours = both(certs, lambda s: s.get(server.url + "/headers/many/102", timeout=10))
    if limit == float("inf"):
        assert reference == ours == ("no error", "")
    else:
        assert reference[0] == ours[0] == "ConnectionError"
        assert f"got more than {limit} headers" in ours[1]


def test_unreachable_proxy_is_a_proxy_error(
    h1_server: Server, h2_server: Server, certs: Certs, refused_port: int,
) -> None:
    proxy = f"http://127.0.0.1:{refused_port}"
    for url in (h1_server.url, h2_server.url):
        reference, ours = both(certs, lambda s: s.get(url + "/get", timeout=5,  # noqa: B023
                                                       proxies={"http": proxy, "https": proxy}))
        assert reference[0] == ours[0] == "ProxyError"
        assert "Unable to connect to proxy" in ours[1]


@pytest.mark.parametrize("timeout", ["soon", -1, (1, "x")])
def test_invalid_timeout_gives_requests_message(
    timeout: Any, h2_server: Server, certs: Certs,
) -> None:
    reference, ours = both(certs, lambda s: s.get(h2_server.url + "/get", timeout=timeout))
    assert reference[0] == ours[0] == "ValueError"
    assert ours[1] == reference[1]


def test_ca_bundle_without_certificates_is_an_ssl_error(
    h2_server: Server, certs: Certs, tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("no certificate in here\n")
    reference, ours = both(certs, lambda s: s.get(h2_server.url + "/get", verify=str(empty)))
    assert reference[0] == ours[0] == "SSLError"


def test_refused_connection_text(certs: Certs, refused_port: int) -> None:
    reference, ours = both(certs, lambda s: s.get(f"http://127.0.0.1:{refused_port}/x",
                                                  timeout=5))
    assert reference[0] == ours[0] == "ConnectionError"
    prefix = f"HTTPConnectionPool(host='127.0.0.1', port={refused_port}): Max retries exceeded"
    assert ours[1].startswith(prefix) and reference[1].startswith(prefix)
    assert "NewConnectionError" in ours[1] and "Connection refused" in ours[1]
