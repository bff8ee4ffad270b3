"""The Launcher: starts servers into one directory and stops them all.

The Python servers (hypercorn, and the HTTP/1.1-only stdlib bridge) get an
already listening socket from this process (``fd://``), so there is no race
for the port. nginx, Apache, h2o, nghttpd and tinyproxy take a port number:
we pick a free one and retry a few times if another process grabs it first.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .certs import Certs, client_context
from .configs import apache_conf, h2o_conf, make_htdocs, nginx_conf, tinyproxy_conf
from .process import (
    LOOPBACK,
    PORT_ATTEMPTS,
    ServerError,
    free_port,
    http_get_ok,
    listening_sockets,
    port_in_use,
    spawn,
    stop_process,
    tcp_accepts,
    tls_alpn,
    wait_ready,
)

#: The script the Python servers run in (``python asgi_runner.py KIND CONFIG``).
ASGI_RUNNER = Path(__file__).resolve().parent / "asgi_runner.py"

#: What a web server's start function returns: its process, its logs, its
#: document root and its configuration file.
StartResult = tuple["subprocess.Popen[bytes]", tuple[Path, ...], Path, Path]


@dataclasses.dataclass(frozen=True)
class Server:
    """A running server: where to reach it and how to find its log."""

    host: str
    port: int
    scheme: str  # "http" or "https"
    url: str  # e.g. "https://localhost:PORT", no trailing slash
    authority: str  # "localhost:PORT"
    pid: int
    log_paths: tuple[Path, ...]

    def url_for(self, path: str) -> str:
        return self.url + path


@dataclasses.dataclass(frozen=True)
class NghttpdServer(Server):
    """nghttpd over TLS (ALPN h2 only). GET / and /index.html push /pushed.css."""

    htdocs: Path


@dataclasses.dataclass(frozen=True)
class WebServer(Server):
    """A web server (nginx, Apache, h2o): the fields describe its TLS
    listener (ALPN h2 and http/1.1).

    ``plain`` is the plaintext listener of the same server, ``backend`` the
    hypercorn that ``/app/`` proxies to (so ``/app/get`` is the app's
    ``/get``), ``htdocs`` the static root (``STATIC_FILES`` plus big.bin),
    ``kind`` the server's name ("nginx", "apache", "h2o").
    """

    plain: Server
    backend: Server
    htdocs: Path
    conf_path: Path
    app_prefix: str = "/app"
    kind: str = "nginx"


@dataclasses.dataclass(frozen=True)
class NginxServer(WebServer):
    """nginx; its plaintext listener speaks HTTP/1.1 only."""


@dataclasses.dataclass(frozen=True)
class ApacheServer(WebServer):
    """Apache httpd with mod_http2; its plaintext listener speaks HTTP/1.1,
    h2c by Upgrade and h2c with prior knowledge."""


@dataclasses.dataclass(frozen=True)
class H2oServer(WebServer):
    """h2o; its plaintext listener speaks HTTP/1.1, h2c by Upgrade and h2c
    with prior knowledge."""


WebServerT = TypeVar("WebServerT", bound=WebServer)


@dataclasses.dataclass(frozen=True)
class ProxyServer:
    """tinyproxy; username/password are set when it requires BasicAuth."""

    host: str
    port: int
    url: str  # "http://127.0.0.1:PORT", without credentials
    pid: int
    log_paths: tuple[Path, ...]
    username: str | None = None
    password: str | None = None

    @property
    def url_with_auth(self) -> str:
        if self.username is None:
            return self.url
        return f"http://{self.username}:{self.password}@{self.host}:{self.port}"



AnyServerT = TypeVar("AnyServerT", bound="Server | ProxyServer")


class Launcher:
    """Starts servers into one directory and stops all of them at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[Server | ProxyServer] = []
        self._cleanup: list[Path] = []
        self._count = 0

    def _new_dir(self, name: str) -> Path:
        self._count += 1
        path = self.directory / f"{name}-{self._count}"
        path.mkdir(parents=True)
        return path

    def stop_all(self) -> None:
        while self.procs:
            stop_process(self.procs.pop())
        while self._cleanup:
            shutil.rmtree(self._cleanup.pop(), ignore_errors=True)

    def _remember(self, server: AnyServerT) -> AnyServerT:
        self.servers.append(server)
        return server

    def python_server(
        self,
        kind: str,
        certs: Certs | None,
        config: dict[str, Any],
        name: str,
    ) -> Server:
        """Start ``asgi_runner.py hypercorn|h1`` with pre-bound sockets."""
        workdir = self._new_dir(name)
        log = workdir / "server.log"
        socks = listening_sockets()
        port = socks[0].getsockname()[1]
        fds = tuple(s.fileno() for s in socks)
        settings = dict(config)
        settings["fds"] = list(fds)
        if certs is not None:
            settings.setdefault("certfile", str(certs.server_cert_path))
            settings.setdefault("keyfile", str(certs.server_key_path))
        # default=str: Paths become strings; IntEnums (ssl.VerifyMode) are ints.
        argv = [sys.executable, str(ASGI_RUNNER), kind, json.dumps(settings, default=str)]
        try:
            proc = spawn(argv, log, pass_fds=fds)
        finally:
            for sock in socks:
                sock.close()
        self.procs.append(proc)
        tls = certs is not None
        host = "localhost" if tls else LOOPBACK
        # The client certificate lets servers that demand one become ready too.
        context = client_context(certs, ["http/1.1"], True) if certs is not None else None
        wait_ready(proc, lambda: http_get_ok(host, port, "/get", context), (log,), name)
        return self._remember(_server(host, port, tls, proc.pid, (log,)))

    def hypercorn(self, certs: Certs | None, name: str = "hypercorn", **config: Any) -> Server:
        return self.python_server("hypercorn", certs, config, name)

    def h1(self, name: str = "h1") -> Server:
        return self.python_server("h1", None, {}, name)

    def _with_port_retry(
        self,
        name: str,
        start: Callable[[Path, int], tuple[subprocess.Popen[bytes], tuple[Path, ...]]],
        check: Callable[[int], bool],
    ) -> tuple[subprocess.Popen[bytes], int, Path, tuple[Path, ...]]:
        """Start a server that binds by itself, retrying if its port is taken."""
        for _ in range(PORT_ATTEMPTS):
            workdir = self._new_dir(name)
            port = free_port()
            proc, logs = start(workdir, port)
            self.procs.append(proc)
            try:
                wait_ready(proc, functools.partial(check, port), logs, name)
            except ServerError:
                if proc.poll() is not None and port_in_use(logs):
                    continue
                raise
            return proc, port, workdir, logs
        raise ServerError(f"{name}: no free port after {PORT_ATTEMPTS} attempts")

    def nghttpd(self, binary: str, certs: Certs) -> NghttpdServer:
        def start(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], tuple[Path, ...]]:
            htdocs = make_htdocs(workdir / "htdocs")
            log = workdir / "nghttpd.log"
            argv = [
                binary,
                "--address", LOOPBACK,
                "--htdocs", str(htdocs),
                "--echo-upload",
                "--push", "/=/pushed.css",
                "--push", "/index.html=/pushed.css",
                str(port),
                str(certs.server_key_path),
                str(certs.server_cert_path),
            ]  # fmt: skip
            return spawn(argv, log), (log,)

        context = client_context(certs, ["h2"])
        proc, port, workdir, logs = self._with_port_retry(
            "nghttpd", start, lambda port: tls_alpn("localhost", port, context) == "h2"
        )
        base = _server("localhost", port, True, proc.pid, logs)
        server = NghttpdServer(**_fields(base), htdocs=workdir / "htdocs")
        return self._remember(server)

    def nginx(self, binary: str, certs: Certs, extra_server_conf: str = "") -> NginxServer:
        """nginx; ``extra_server_conf`` goes in both server blocks."""

        def start(workdir: Path, port: int, plain_port: int, backend: Server) -> StartResult:
            conf = workdir / "nginx.conf"
            conf.write_text(
                nginx_conf(workdir, port, plain_port, backend.port, certs, extra_server_conf)
            )
            make_htdocs(workdir / "htdocs")
            for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                (workdir / sub).mkdir()
            log = workdir / "nginx.log"
            error_log = workdir / "error.log"
            argv = [
                binary, "-p", str(workdir), "-c", str(conf),
                "-e", str(error_log), "-g", "daemon off;",
            ]  # fmt: skip
            return spawn(argv, log), (log, error_log), workdir / "htdocs", conf

        return self._web_server(NginxServer, "nginx", certs, start)

    def apache(self, binary: str, certs: Certs, extra_conf: str = "") -> ApacheServer:
        """Apache httpd 2.4 with mod_http2, in the foreground (stopped by its
        PID); ``extra_conf`` goes in the main server config."""

        def start(workdir: Path, port: int, plain_port: int, backend: Server) -> StartResult:
            htdocs = make_htdocs(self._readable_dir("apache-htdocs"))
            conf = workdir / "apache2.conf"
            conf.write_text(
                apache_conf(workdir, htdocs, port, plain_port, backend.port, certs, extra_conf)
            )
            log = workdir / "apache.out"
            argv = [binary, "-f", str(conf), "-DFOREGROUND"]
            # Debian's apache2 reads APACHE_* variables only in its own
            # configuration, which this one replaces; LANG=C as envvars sets.
            return spawn(argv, log, env={"LANG": "C"}), (log, workdir / "error.log"), htdocs, conf

        return self._web_server(ApacheServer, "apache", certs, start)

    def h2o(self, binary: str, certs: Certs, extra_conf: str = "") -> H2oServer:
        """h2o; ``extra_conf`` is top-level YAML."""

        def start(workdir: Path, port: int, plain_port: int, backend: Server) -> StartResult:
            htdocs = make_htdocs(workdir / "htdocs")
            conf = workdir / "h2o.conf"
            conf.write_text(
                h2o_conf(workdir, htdocs, port, plain_port, backend.port, certs, extra_conf)
            )
            log = workdir / "h2o.out"
            argv = [binary, "-m", "master", "-c", str(conf)]
            return spawn(argv, log), (log, workdir / "error.log"), htdocs, conf

        return self._web_server(H2oServer, "h2o", certs, start)

    def _web_server(
        self,
        cls: type[WebServerT],
        kind: str,
        certs: Certs,
        start: Callable[[Path, int, int, Server], StartResult],
    ) -> WebServerT:
        """Start a web server with a TLS and a plaintext listener, proxying
        ``/app/`` to a fresh hypercorn; ready once both listeners answer."""
        backend = self.hypercorn(None, name=f"{kind}-backend", root_path="/app")
        plain_ports: dict[int, int] = {}
        started: dict[int, tuple[Path, Path]] = {}

        def start_on(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], tuple[Path, ...]]:
            plain_ports[port] = free_port()
            proc, logs, htdocs, conf = start(workdir, port, plain_ports[port], backend)
            started[port] = (htdocs, conf)
            return proc, logs

        context = client_context(certs, ["h2"])

        def ready(port: int) -> bool:
            return tls_alpn("localhost", port, context) == "h2" and http_get_ok(
                LOOPBACK, plain_ports[port], "/small.txt", None
            )

        proc, port, _, logs = self._with_port_retry(kind, start_on, ready)
        tls = _server("localhost", port, True, proc.pid, logs + backend.log_paths)
        plain = _server(LOOPBACK, plain_ports[port], False, proc.pid, logs)
        htdocs, conf = started[port]
        server = cls(
            **_fields(tls),
            plain=plain,
            backend=backend,
            htdocs=htdocs,
            conf_path=conf,
            kind=kind,
        )
        return self._remember(server)

    def _readable_dir(self, name: str) -> Path:
        """A directory other users can read (Apache's workers run as
        www-data when we are root), removed by stop_all."""
        path = Path(tempfile.mkdtemp(prefix=f"hyper-tests-{name}-"))
        path.chmod(0o755)
        self._cleanup.append(path)
        return path

    def tinyproxy(
        self, binary: str, username: str | None = None, password: str | None = None
    ) -> ProxyServer:
        def start(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], tuple[Path, ...]]:
            conf = workdir / "tinyproxy.conf"
            conf.write_text(tinyproxy_conf(workdir, port, username, password))
            log = workdir / "tinyproxy.out"
            argv = [binary, "-d", "-c", str(conf)]
            return spawn(argv, log), (log, workdir / "tinyproxy.log")

        proc, port, _, logs = self._with_port_retry("tinyproxy", start, tcp_accepts)
        url = f"http://{LOOPBACK}:{port}"
        server = ProxyServer(LOOPBACK, port, url, proc.pid, logs, username, password)
        return self._remember(server)


def _server(host: str, port: int, tls: bool, pid: int, logs: tuple[Path, ...]) -> Server:
    scheme = "https" if tls else "http"
    authority = f"{host}:{port}"
    return Server(host, port, scheme, f"{scheme}://{authority}", authority, pid, logs)


def _fields(server: Server) -> dict[str, Any]:
    return {f.name: getattr(server, f.name) for f in dataclasses.fields(Server)}




def iter_log_paths(value: Any) -> Iterator[Path]:
    """Log files of a fixture value: a server, or a factory's started list."""
    if isinstance(value, (Server, ProxyServer)):
        yield from value.log_paths
        for attr in ("plain", "backend"):
            inner = getattr(value, attr, None)
            if inner is not None:
                yield from iter_log_paths(inner)
    started = getattr(value, "started", None)
    if isinstance(started, list):
        for server in started:
            yield from iter_log_paths(server)

