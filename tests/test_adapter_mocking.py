"""Tools that hook requests at ``HTTPAdapter`` see HTTP20Adapter as one:
``responses`` (it patches ``HTTPAdapter.send`` on the class) mocks a
session with HTTP20Adapter mounted, and its pass-through sends the
unmocked requests through hyper, over HTTP/2."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import responses

from hyper.contrib import HTTP20Adapter
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(autouse=True)
def _no_ca_bundle_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests prefers these to Session.verify; the tests set verify themselves.
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def session(certs: Certs) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.mount("https://", HTTP20Adapter())
        session.mount("http://", HTTP20Adapter())
        session.verify = str(certs.ca_path)
        yield session


def test_requests_mock_answers_instead_of_the_network(session: requests.Session) -> None:
    with responses.RequestsMock() as mock:
        mock.add(responses.GET, "https://api.invalid/items", json={"items": [1, 2]})
        mock.add(responses.POST, "http://api.invalid/items", status=201, body="made")
        assert session.get("https://api.invalid/items").json() == {"items": [1, 2]}
        created = session.post("http://api.invalid/items", data=b"x")
        assert (created.status_code, created.text) == (201, "made")
        assert [call.request.url for call in mock.calls] == [
            "https://api.invalid/items", "http://api.invalid/items"]


def test_unmocked_url_is_refused_by_the_mock(session: requests.Session) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False), \
            pytest.raises(requests.ConnectionError, match="Connection refused by Responses"):
        session.get("https://api.invalid/not-registered")


@responses.activate
def test_the_activate_decorator(session: requests.Session) -> None:
    responses.add(responses.GET, "https://api.invalid/ping", body="pong")
    assert session.get("https://api.invalid/ping").text == "pong"


def test_pass_through_goes_through_hyper(session: requests.Session, h2_server: Server) -> None:
    with responses.RequestsMock() as mock:
        mock.add_passthru(h2_server.url)
        mock.add(responses.GET, "https://api.invalid/mocked", body="mocked")
        real = session.get(h2_server.url + "/token/real")
        assert (real.text, real.raw.version) == ("real", 20)
        assert session.get("https://api.invalid/mocked").text == "mocked"
