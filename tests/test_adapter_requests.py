"""How HTTP20Adapter sends what requests gives it: the schemes it is mounted
for, a proxy given as ``host:port``, header values beyond latin-1. Real
servers on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from hyper.contrib import HTTP20Adapter
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_proxy_or_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTP_PROXY", "HTTPS_PROXY",
                 "http_proxy", "https_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session(certs: Certs) -> Iterator[requests.Session]:
    with requests.Session() as session:
        adapter = HTTP20Adapter()
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        session.verify = str(certs.ca_path)
        yield session


def received(response: requests.Response) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        headers.setdefault(name.lower(), []).append(value)
    return headers


@pytest.mark.parametrize("adapter_class", [HTTPAdapter, HTTP20Adapter])
def test_adapter_mounted_for_another_scheme_refuses_it(adapter_class: type[HTTPAdapter]) -> None:
    with requests.Session() as session:
        session.mount("ftp://", adapter_class())
        with pytest.raises(requests.exceptions.InvalidURL, match="ftp"):
            session.get("ftp://127.0.0.1/file")


def test_proxy_without_a_scheme_is_an_http_proxy(
    session: requests.Session, h1_server: Server, tinyproxy_server: Any,
) -> None:
    # requests accepts "host:port" and means http://host:port.
    proxy = f"{tinyproxy_server.host}:{tinyproxy_server.port}"
    r = session.get(h1_server.url + "/get", proxies={"http": proxy})
    assert r.status_code == 200
    assert any("tinyproxy" in via for via in received(r)["via"])


def test_header_value_beyond_latin1_goes_as_utf8(
    session: requests.Session, h2_server: Server,
) -> None:
    r = session.get(h2_server.url + "/get", headers={"X-Name": "名前", "X-Latin": "café"})
    headers = received(r)
    # The app shows header bytes as latin-1 text.
    assert headers["x-name"] == ["名前".encode().decode("latin-1")]
    assert headers["x-latin"] == ["café"]
