"""The HTTPie plugin when HTTPie's internals are not what it relies on:
attaching twice, an HTTPie without ``httpie.cli.definition`` or transport
plugins, the inactive adapter, and an HTTPie with or without
``HTTPHeadersDict``.

The parts that replace HTTPie modules run in a fresh Python (measured by
coverage's subprocess patch, see setup.cfg); the others in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

import httpie_plugin  # noqa: F401 - attaches the options, as HTTPie's import does
from httpie_plugin import adapter as plugin_adapter
from httpie_plugin.attach import attach, is_attached
from httpie_plugin.plugin import InactiveAdapter
from httpie_plugin.settings import AdapterSettings
from servers import Certs, Server

pytestmark = pytest.mark.timeout(60)


_WARNING = "hyper HTTP/2 plugin: warning: "


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "HTTPIE_HTTP2"}
    env["HTTPIE_CONFIG_DIR"] = str(cwd / "httpie-config")
    return subprocess.run(
        [sys.executable, "-c", code],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=60,
        check=False,
    )


_WITHOUT_PLUGIN_SUPPORT = """
import sys
sys.modules["httpie.plugins"] = None   # an HTTPie without plugin support
import httpie_plugin
from httpie_plugin.attach import parsed_args
from httpie_plugin.plugin import H2CTransportPlugin, HTTP2TransportPlugin, InactiveAdapter
assert HTTP2TransportPlugin.__mro__[-1] is object
assert len(HTTP2TransportPlugin.__mro__) == 3, HTTP2TransportPlugin.__mro__
assert parsed_args() is None
for plugin_class in (HTTP2TransportPlugin, H2CTransportPlugin):
    plugin = plugin_class()
    print(plugin.prefix, type(plugin.get_adapter()).__name__)
"""


@pytest.fixture
def plugin_session(certs: Certs, monkeypatch: pytest.MonkeyPatch) -> Iterator[requests.Session]:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        # requests would prefer them to session.verify.
        monkeypatch.delenv(name, raising=False)
    with requests.Session() as session:
        session.mount("https://", plugin_adapter.HTTPieHTTP20Adapter(AdapterSettings("upgrade")))
        session.verify = str(certs.ca_path)
        yield session


def test_attaching_again_adds_nothing() -> None:
    from httpie.cli import definition

    parser = definition.parser
    assert is_attached()
    options = [action.option_strings for action in parser._actions]
    assert attach() is True
    assert [action.option_strings for action in parser._actions] == options
    assert sum("--http2" in strings for strings in options) == 1


def test_without_httpie_plugin_support_the_plugin_stays_off(tmp_path: Path) -> None:
    """Importing the plugin still works; it says once why it is off, and its
    plugins mount inactive adapters on prefixes no URL has."""
    proc = run_python(_WITHOUT_PLUGIN_SUPPORT, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "hyper-http2-off+https:// InactiveAdapter",
        "hyper-http2-off+http:// InactiveAdapter",
    ]
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(_WARNING + "cannot import httpie.cli.definition (")
    assert lines[0].endswith("; HTTPie runs without --http2")


def test_inactive_adapter_refuses_requests_and_closes() -> None:
    session = requests.Session()
    session.mount("hyper-http2-off+https://", InactiveAdapter())
    with pytest.raises(requests.exceptions.InvalidSchema, match="No adapter is active"):
        session.get("hyper-http2-off+https://localhost/")
    # BaseAdapter.close() raises NotImplementedError; Session.close() calls it.
    session.close()


def test_repeated_headers_kept_apart_with_httpies_header_dict(
    plugin_session: requests.Session, h2_server: Server,
) -> None:
    r = plugin_session.get(h2_server.url + "/headers/repeat")
    assert type(r.headers).__name__ == "HTTPHeadersDict"
    assert r.headers.getall("x-multi") == ["one", "two"]


def test_without_httpies_header_dict_headers_fold_as_requests_folds_them(
    plugin_session: requests.Session, h2_server: Server, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A later HTTPie may move HTTPHeadersDict: the adapter then keeps the
    headers requests made (repeats joined with commas) instead of failing."""
    monkeypatch.setattr(plugin_adapter, "HTTPHeadersDict", None)
    r = plugin_session.get(h2_server.url + "/headers/repeat")
    assert type(r.headers) is CaseInsensitiveDict
    headers: Any = r.headers
    assert headers["x-multi"] == "one, two"
    assert r.text == "repeated headers\n"
