"""The ``raw`` of a response through HTTP20Adapter: its file-like face
(read1, fileno) and its http.client-like ``_original_response``. Real
servers on loopback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

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


def test_raw_read1_and_fileno(session: requests.Session, h2_server: Server) -> None:
    r = session.get(h2_server.url + "/token/abcdefgh", stream=True)
    first = r.raw.read1(3)
    assert 0 < len(first) <= 3
    rest = r.raw.read1()
    assert first + rest == b"abcdefgh"
    with pytest.raises(OSError, match="no file descriptor"):
        r.raw.fileno()
    r.close()


def test_original_response_acts_as_http_clients(
    session: requests.Session, h2_server: Server,
) -> None:
    r = session.get(h2_server.url + "/headers/repeat")
    original = r.raw._original_response
    pairs = [(n.lower(), v) for n, v in original.getheaders()]
    assert [p for p in pairs if p[0] in ("set-cookie", "x-multi")] == [
        ("set-cookie", "first=1; Path=/"),
        ("set-cookie", "second=2; Path=/"),
        ("x-multi", "one"),
        ("x-multi", "two"),
    ]
    assert original.getheader("x-absent", "none") == "none"
    assert repr(original) == "<OriginalResponse 200 version=20>"

