"""Fixtures: certificates and real servers on loopback.

Session-scoped servers (one process each for the whole run):

- ``certs``: a trustme CA and the files made from it (see ``servers.Certs``).
- ``h2_server``: hypercorn over TLS, ALPN ``h2`` and ``http/1.1``.
- ``h1_tls_server``: hypercorn over TLS, ALPN ``http/1.1`` only.
- ``h2c_server``: hypercorn plaintext: h2c prior knowledge, h2c Upgrade and
  HTTP/1.1 on one port.
- ``h1_server``: plaintext HTTP/1.1 only (stdlib server running the same
  app); it ignores ``Upgrade: h2c``.
- ``nghttpd_server``, ``nginx_server``, ``apache_server``, ``h2o_server``,
  ``tinyproxy_server``, ``tinyproxy_auth_server``: Debian's servers (skipped
  when the binary is missing, failed instead when the environment variable
  CI is set). nginx, Apache and h2o serve the same static files and proxy
  ``/app/`` to a hypercorn running the app (``servers.WebServer``).
- ``real_server``: each of nginx, Apache and h2o in turn (parametrised).
- ``nginx_max_requests_server``, ``h2_max_requests_server``: nginx
  (``keepalive_requests``) and hypercorn over TLS (``keep_alive_max_requests``)
  closing each connection after ``MAX_REQUESTS`` requests (HTTP/2: GOAWAY).

Function-scoped factories: ``start_hypercorn(tls, **config)``,
``start_nginx(extra_server_conf)``, ``start_apache(extra_conf)``,
``start_h2o(extra_conf)``, and ``start_real_server`` (parametrised over the
three) whose ``limited(max_requests=, max_concurrent_streams=)`` starts one
with those limits. ``ssl_context``: hyper's client context trusting the
test CA.

``check_leaks`` (autouse, per module): the process's sockets and threads
are back to what they were before the module (the ``leaks`` plugin).

When a test fails, the logs of the servers it used are added to its report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import (
    ApacheServer,
    Certs,
    H2oServer,
    Launcher,
    NghttpdServer,
    NginxServer,
    ProxyServer,
    Server,
    WebServer,
    find_binary,
    iter_log_paths,
    log_tail,
    make_certs,
)

# leaks: the per-module check of sockets and threads (``check_leaks``).
pytest_plugins = ["pytester", "leaks"]

PROXY_USER = "hyper"
PROXY_PASSWORD = "s3cret-pass"
#: Requests per connection of the ``*_max_requests_server`` fixtures.
MAX_REQUESTS = 50
#: The web servers ``real_server`` and ``start_real_server`` run through.
REAL_SERVERS = ("nginx", "apache", "h2o")


def require_binary(name: str) -> str:
    """The path of a Debian server binary, or skip (fail under CI)."""
    path = find_binary(name)
    if path is not None:
        return path
    package = _PACKAGES.get(name, name)
    reason = f"{name} is not installed (apt-get install {package}; ./scripts/test does it)"
    if os.environ.get("CI"):
        pytest.fail(f"CI is set and {reason}", pytrace=False)
    pytest.skip(reason)


_PACKAGES = {
    "nghttpd": "nghttp2-server",
    "nginx": "nginx",
    "tinyproxy": "tinyproxy",
    "apache2": "apache2",
    "h2o": "h2o",
}


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def _session_launcher(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path_factory.mktemp("servers"))
    yield launcher
    launcher.stop_all()


@pytest.fixture(scope="session")
def h2_server(_session_launcher: Launcher, certs: Certs) -> Server:
    return _session_launcher.hypercorn(certs, name="h2", alpn_protocols=["h2", "http/1.1"])


@pytest.fixture(scope="session")
def h1_tls_server(_session_launcher: Launcher, certs: Certs) -> Server:
    return _session_launcher.hypercorn(certs, name="h1-tls", alpn_protocols=["http/1.1"])


@pytest.fixture(scope="session")
def h2c_server(_session_launcher: Launcher) -> Server:
    return _session_launcher.hypercorn(None, name="h2c")


@pytest.fixture(scope="session")
def h1_server(_session_launcher: Launcher) -> Server:
    return _session_launcher.h1()


@pytest.fixture(scope="session")
def nghttpd_server(_session_launcher: Launcher, certs: Certs) -> NghttpdServer:
    return _session_launcher.nghttpd(require_binary("nghttpd"), certs)


@pytest.fixture(scope="session")
def nginx_server(_session_launcher: Launcher, certs: Certs) -> NginxServer:
    return _session_launcher.nginx(require_binary("nginx"), certs)


@pytest.fixture(scope="session")
def apache_server(_session_launcher: Launcher, certs: Certs) -> ApacheServer:
    return _session_launcher.apache(require_binary("apache2"), certs)


@pytest.fixture(scope="session")
def h2o_server(_session_launcher: Launcher, certs: Certs) -> H2oServer:
    return _session_launcher.h2o(require_binary("h2o"), certs)


@pytest.fixture(params=REAL_SERVERS)
def real_server(request: pytest.FixtureRequest) -> WebServer:
    """nginx, Apache httpd and h2o in turn (their session-scoped fixtures)."""
    server: WebServer = request.getfixturevalue(f"{request.param}_server")
    return server


@pytest.fixture(scope="session")
def nginx_max_requests_server(_session_launcher: Launcher, certs: Certs) -> NginxServer:
    return _session_launcher.nginx(
        require_binary("nginx"), certs, f"keepalive_requests {MAX_REQUESTS};"
    )


@pytest.fixture(scope="session")
def h2_max_requests_server(_session_launcher: Launcher, certs: Certs) -> Server:
    return _session_launcher.hypercorn(
        certs,
        name="h2-max-requests",
        alpn_protocols=["h2", "http/1.1"],
        keep_alive_max_requests=MAX_REQUESTS,
    )


@pytest.fixture(scope="session")
def tinyproxy_server(_session_launcher: Launcher) -> ProxyServer:
    return _session_launcher.tinyproxy(require_binary("tinyproxy"))


@pytest.fixture(scope="session")
def tinyproxy_auth_server(_session_launcher: Launcher) -> ProxyServer:
    return _session_launcher.tinyproxy(require_binary("tinyproxy"), PROXY_USER, PROXY_PASSWORD)


class HypercornFactory:
    """``start_hypercorn(tls, **config)``: a fresh hypercorn for one test.

    ``config`` keys are hypercorn Config attributes, e.g.
    ``h2_max_concurrent_streams=2``, ``keep_alive_max_requests=5``,
    ``keep_alive_timeout=1``, ``alpn_protocols=["http/1.1"]``.
    """

    def __init__(self, launcher: Launcher, certs: Certs) -> None:
        self._launcher = launcher
        self._certs = certs

    @property
    def started(self) -> list[Any]:
        return self._launcher.servers

    def __call__(self, tls: bool, **config: Any) -> Server:
        return self._launcher.hypercorn(self._certs if tls else None, **config)


#: The directive of each limit, per server; None: the server has none.
SERVER_LIMITS: dict[str, dict[str, str | None]] = {
    "nginx": {
        "max_requests": "keepalive_requests {};",
        "max_concurrent_streams": "http2_max_concurrent_streams {};",
    },
    "apache": {
        # mod_http2 does not apply MaxKeepAliveRequests to HTTP/2: with
        # MaxKeepAliveRequests 3, 8 requests on one connection all succeed.
        "max_requests": None,
        "max_concurrent_streams": "H2MaxSessionStreams {}",
    },
    "h2o": {
        # h2o 2.2 has no limit on requests per connection.
        "max_requests": None,
        # h2o advertises SETTINGS_MAX_CONCURRENT_STREAMS 100 whatever its
        # http2-max-concurrent-requests-per-connection (which queues inside h2o).
        "max_concurrent_streams": None,
    },
}


class WebServerFactory:
    """``start_apache(extra_conf)`` / ``start_h2o(extra_conf)``: a fresh
    server for one test (``start_nginx`` is the nginx one); ``limited(...)``
    starts one with per-connection limits in each server's own words."""

    def __init__(self, launcher: Launcher, certs: Certs, kind: str, binary: str) -> None:
        self._launcher = launcher
        self._certs = certs
        self.kind = kind
        self._binary = binary

    @property
    def started(self) -> list[Any]:
        return self._launcher.servers

    def __call__(self, extra_conf: str = "") -> WebServer:
        start = getattr(self._launcher, self.kind)
        server: WebServer = start(self._binary, self._certs, extra_conf)
        return server

    def limited(
        self, max_requests: int | None = None, max_concurrent_streams: int | None = None
    ) -> WebServer:
        lines = []
        for name, value in (
            ("max_requests", max_requests),
            ("max_concurrent_streams", max_concurrent_streams),
        ):
            if value is None:
                continue
            template = SERVER_LIMITS[self.kind][name]
            if template is None:
                raise ValueError(f"{self.kind} has no {name} setting")
            lines.append(template.format(value))
        return self("\n".join(lines))


class NginxFactory(WebServerFactory):
    """``start_nginx(extra_server_conf)``: a fresh nginx for one test, with
    extra directives in both server blocks, e.g. ``"keepalive_requests 5;"``
    (GOAWAY after 5 requests) or ``"http2_max_concurrent_streams 2;"``."""

    def __init__(self, launcher: Launcher, certs: Certs, binary: str) -> None:
        super().__init__(launcher, certs, "nginx", binary)

    def __call__(self, extra_server_conf: str = "") -> NginxServer:
        return self._launcher.nginx(self._binary, self._certs, extra_server_conf)


@pytest.fixture
def _launcher(tmp_path: Path) -> Iterator[Launcher]:
    launcher = Launcher(tmp_path / "servers")
    yield launcher
    launcher.stop_all()


@pytest.fixture
def start_hypercorn(_launcher: Launcher, certs: Certs) -> HypercornFactory:
    return HypercornFactory(_launcher, certs)


@pytest.fixture
def start_nginx(_launcher: Launcher, certs: Certs) -> NginxFactory:
    return NginxFactory(_launcher, certs, require_binary("nginx"))


@pytest.fixture
def start_apache(_launcher: Launcher, certs: Certs) -> WebServerFactory:
    return WebServerFactory(_launcher, certs, "apache", require_binary("apache2"))


@pytest.fixture
def start_h2o(_launcher: Launcher, certs: Certs) -> WebServerFactory:
    return WebServerFactory(_launcher, certs, "h2o", require_binary("h2o"))


@pytest.fixture(params=REAL_SERVERS)
def start_real_server(request: pytest.FixtureRequest) -> WebServerFactory:
    """``start_nginx``, ``start_apache`` and ``start_h2o`` in turn; narrow it
    with ``@pytest.mark.parametrize("start_real_server", [...], indirect=True)``."""
    factory: WebServerFactory = request.getfixturevalue(f"start_{request.param}")
    return factory


@pytest.fixture
def ssl_context(certs: Certs) -> Any:
    # hyper.tls is written alongside these fixtures: import it lazily so that
    # the fixtures load even while it does not exist yet.
    from hyper.tls import init_context

    return init_context(cert_path=str(certs.ca_path))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.failed:
        funcargs: dict[str, Any] = getattr(item, "funcargs", {})
        seen: set[Path] = set()
        for name, value in funcargs.items():
            paths = tuple(p for p in dict.fromkeys(iter_log_paths(value)) if p not in seen)
            seen.update(paths)
            if paths:
                report.sections.append((f"server logs: {name}", log_tail(paths)))
    return report


@pytest.fixture(params=["whole", "bytewise"])
def h(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A scripted HTTP/2 peer harness (tests/h2peer.py), its scripts fed
    whole and one byte at a time."""
    from h2peer import Harness

    harness = Harness(request.param)
    yield harness
    harness.teardown()


@pytest.fixture
def hw() -> Iterator[Any]:
    """The scripted HTTP/2 peer harness with whole steps only: for tests about
    the client's threads, not its parsing."""
    from h2peer import Harness

    harness = Harness("whole")
    yield harness
    harness.teardown()


@pytest.fixture(params=["whole", "bytewise"])
def tcp_peers(request: pytest.FixtureRequest) -> Iterator[Any]:
    """``tcp_peers(script, ...)`` starts a scripted TCP peer (tests/tcppeer.py)
    feeding its replies whole or one byte at a time; all are joined after
    the test."""
    from tcppeer import Peers

    yield from Peers.fixture(str(request.param))
