"""Launch real servers on loopback for the tests.

Every server runs in its own process, bound to 127.0.0.1 (and ::1 where it
is free on the same port), writes its output to a log file, is waited for
with a bounded readiness check and is stopped by its own PID.

The Python servers (hypercorn, and the HTTP/1.1-only stdlib bridge) get an
already listening socket from this process (``fd://``), so there is no race
for the port. nginx, nghttpd and tinyproxy take a port number: we pick a
free one and retry a few times if another process grabs it first.

Run as a script, this module *is* the server process:
``python servers.py hypercorn CONFIG_JSON`` or ``python servers.py h1 CONFIG_JSON``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import functools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LOOPBACK = "127.0.0.1"
LOOPBACK6 = "::1"
#: Longest time a server may take to become ready.
READY_TIMEOUT = 30.0
#: Longest time a server may take to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 10.0
#: How many ports to try for servers that bind by themselves.
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 80

#: Files served by nginx and nghttpd from their document root.
STATIC_FILES: dict[str, bytes] = {
    "index.html": b"<!doctype html>\n<title>hyper tests</title>\n"
    b'<link rel="stylesheet" href="/pushed.css">\n<p>index</p>\n',
    "pushed.css": b"p { color: green; }\n",
    "small.txt": b"a small static file\n",
}


def _big_file() -> bytes:
    # Same bytes as the app's /bytes/1048576, so one helper checks both.
    sys.path.insert(0, str(HERE))
    from app import payload

    return payload(1024 * 1024)


class ServerError(RuntimeError):
    """A test server did not start; the message carries its log."""


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
class NginxServer(Server):
    """nginx: the fields describe the TLS listener (ALPN h2 and http/1.1).

    ``plain`` is the plaintext HTTP/1.1 listener of the same nginx, ``backend``
    the hypercorn that ``/app/`` proxies to (so ``/app/get`` is the app's
    ``/get``), ``htdocs`` the static root (``STATIC_FILES`` plus big.bin).
    """

    plain: Server
    backend: Server
    htdocs: Path
    conf_path: Path
    app_prefix: str = "/app"


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


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: Any  # trustme.CA
    ca_path: Path
    server_cert_path: Path
    server_key_path: Path
    client_cert_path: Path
    client_key_path: Path
    client_combined_path: Path


def make_certs(directory: Path) -> Certs:
    import trustme

    ca = trustme.CA()
    server = ca.issue_cert("localhost", "127.0.0.1", "::1")
    client = ca.issue_cert("client.localhost")
    paths = {
        "ca_path": directory / "ca.pem",
        "server_cert_path": directory / "server.pem",
        "server_key_path": directory / "server.key",
        "client_cert_path": directory / "client.pem",
        "client_key_path": directory / "client.key",
        "client_combined_path": directory / "client-combined.pem",
    }
    ca.cert_pem.write_to_path(str(paths["ca_path"]))
    _write_chain(server, paths["server_cert_path"])
    server.private_key_pem.write_to_path(str(paths["server_key_path"]))
    _write_chain(client, paths["client_cert_path"])
    client.private_key_pem.write_to_path(str(paths["client_key_path"]))
    _write_chain(client, paths["client_combined_path"])
    client.private_key_pem.write_to_path(str(paths["client_combined_path"]), append=True)
    return Certs(ca=ca, **paths)


def _write_chain(cert: Any, path: Path) -> None:
    path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))


def client_context(
    certs: Certs, alpn: list[str] | None = None, client_cert: bool = False
) -> ssl.SSLContext:
    """A stdlib client context trusting the test CA (for readiness checks)."""
    context = ssl.create_default_context(cafile=str(certs.ca_path))
    if alpn:
        context.set_alpn_protocols(alpn)
    if client_cert:
        context.load_cert_chain(str(certs.client_cert_path), str(certs.client_key_path))
    return context


# --------------------------------------------------------------------------
# Processes


def find_binary(name: str) -> str | None:
    """Like shutil.which, also looking in the sbin directories (not in
    every user's PATH on Debian)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(name, path=path)


def log_tail(paths: tuple[Path, ...], lines: int = LOG_TAIL_LINES) -> str:
    parts = []
    for path in paths:
        try:
            text = path.read_text(errors="replace")
        except OSError as exc:
            text = f"<unreadable: {exc}>"
        tail = "\n".join(text.splitlines()[-lines:])
        parts.append(f"--- {path} (last {lines} lines) ---\n{tail}")
    return "\n".join(parts)


def _spawn(
    argv: list[str], log_path: Path, pass_fds: tuple[int, ...] = ()
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            cwd=str(log_path.parent),
        )


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process by its PID, SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)


def wait_ready(
    proc: subprocess.Popen[bytes],
    check: Callable[[], bool],
    logs: tuple[Path, ...],
    what: str,
    timeout: float = READY_TIMEOUT,
) -> None:
    """Poll ``check`` until it passes; fail fast if the process exits."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with {proc.returncode}\n{log_tail(logs)}")
        try:
            if check():
                return
        except (OSError, ValueError) as exc:
            last_error = exc
        time.sleep(0.05)
    stop_process(proc)
    raise ServerError(f"{what} not ready after {timeout}s ({last_error!r})\n{log_tail(logs)}")


def listening_sockets() -> list[socket.socket]:
    """A listening socket on 127.0.0.1:0, plus ::1 on the same port if free.

    ``localhost`` resolves to ::1 first on many systems; serving both spares
    clients a refused connection before they fall back to IPv4.
    """
    sock4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock4.bind((LOOPBACK, 0))
    sock4.listen(128)
    socks = [sock4]
    port = sock4.getsockname()[1]
    if socket.has_ipv6:
        sock6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            sock6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock6.bind((LOOPBACK6, port))
            sock6.listen(128)
            socks.append(sock6)
        except OSError:
            sock6.close()
    for sock in socks:
        sock.set_inheritable(True)
    return socks


def free_port() -> int:
    """A port free on 127.0.0.1 right now (may be taken again: retry on use)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _port_in_use(logs: tuple[Path, ...]) -> bool:
    text = log_tail(logs, 200)
    return "in use" in text or os.strerror(errno.EADDRINUSE) in text


# --------------------------------------------------------------------------
# Readiness checks (stdlib only)


def http_get_ok(host: str, port: int, path: str, context: ssl.SSLContext | None) -> bool:
    import http.client

    conn: http.client.HTTPConnection
    if context is None:
        conn = http.client.HTTPConnection(host, port, timeout=5)
    else:
        conn = http.client.HTTPSConnection(host, port, timeout=5, context=context)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status < 500
    finally:
        conn.close()


def tls_alpn(host: str, port: int, context: ssl.SSLContext) -> str | None:
    """Handshake and return the protocol the server chose by ALPN."""
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        tls = context.wrap_socket(raw, server_hostname=host)
        with tls:
            return tls.selected_alpn_protocol()


def tcp_accepts(port: int) -> bool:
    with socket.create_connection((LOOPBACK, port), timeout=5):
        return True


# --------------------------------------------------------------------------
# Launchers


class Launcher:
    """Starts servers into one directory and stops all of them at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[subprocess.Popen[bytes]] = []
        self.servers: list[Server | ProxyServer] = []
        self._count = 0

    def _new_dir(self, name: str) -> Path:
        self._count += 1
        path = self.directory / f"{name}-{self._count}"
        path.mkdir(parents=True)
        return path

    def stop_all(self) -> None:
        while self.procs:
            stop_process(self.procs.pop())

    def _remember(self, server: Any) -> Any:
        self.servers.append(server)
        return server

    def python_server(
        self,
        kind: str,
        certs: Certs | None,
        config: dict[str, Any],
        name: str,
    ) -> Server:
        """Start ``servers.py hypercorn|h1`` with pre-bound sockets."""
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
        argv = [sys.executable, str(HERE / "servers.py"), kind, json.dumps(settings, default=str)]
        try:
            proc = _spawn(argv, log, pass_fds=fds)
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
                if proc.poll() is not None and _port_in_use(logs):
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
            return _spawn(argv, log), (log,)

        context = client_context(certs, ["h2"])
        proc, port, workdir, logs = self._with_port_retry(
            "nghttpd", start, lambda port: tls_alpn("localhost", port, context) == "h2"
        )
        base = _server("localhost", port, True, proc.pid, logs)
        server = NghttpdServer(**_fields(base), htdocs=workdir / "htdocs")
        return self._remember(server)

    def nginx(self, binary: str, certs: Certs, extra_server_conf: str = "") -> NginxServer:
        backend = self.hypercorn(None, name="nginx-backend", root_path="/app")
        plain_ports: dict[int, int] = {}

        def start(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], tuple[Path, ...]]:
            plain_ports[port] = free_port()
            conf = workdir / "nginx.conf"
            conf.write_text(
                nginx_conf(workdir, port, plain_ports[port], backend.port, certs, extra_server_conf)
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
            return _spawn(argv, log), (log, error_log)

        context = client_context(certs, ["h2"])

        def ready(port: int) -> bool:
            return tls_alpn("localhost", port, context) == "h2" and http_get_ok(
                LOOPBACK, plain_ports[port], "/small.txt", None
            )

        proc, port, workdir, logs = self._with_port_retry("nginx", start, ready)
        tls = _server("localhost", port, True, proc.pid, logs + backend.log_paths)
        plain = _server(LOOPBACK, plain_ports[port], False, proc.pid, logs)
        server = NginxServer(
            **_fields(tls),
            plain=plain,
            backend=backend,
            htdocs=workdir / "htdocs",
            conf_path=workdir / "nginx.conf",
        )
        return self._remember(server)

    def tinyproxy(
        self, binary: str, username: str | None = None, password: str | None = None
    ) -> ProxyServer:
        def start(workdir: Path, port: int) -> tuple[subprocess.Popen[bytes], tuple[Path, ...]]:
            conf = workdir / "tinyproxy.conf"
            conf.write_text(tinyproxy_conf(workdir, port, username, password))
            log = workdir / "tinyproxy.out"
            argv = [binary, "-d", "-c", str(conf)]
            return _spawn(argv, log), (log, workdir / "tinyproxy.log")

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


def make_htdocs(directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, content in STATIC_FILES.items():
        (directory / name).write_bytes(content)
    (directory / "big.bin").write_bytes(_big_file())
    return directory


def nginx_conf(
    workdir: Path,
    tls_port: int,
    plain_port: int,
    backend_port: int,
    certs: Certs,
    extra: str,
) -> str:
    # Workers of a root master switch to "nobody" by default, who could not
    # read the private temp directory: keep them as the current user.
    user = "user root;" if os.geteuid() == 0 else ""
    locations = f"""
        root {workdir}/htdocs;
        client_max_body_size 0;
        location /app/ {{
            proxy_pass http://backend/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_buffering off;
            proxy_request_buffering off;
        }}
        {extra}
    """
    return f"""
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    types {{ text/html html; text/css css; text/plain txt; }}
    default_type application/octet-stream;
    upstream backend {{ server {LOOPBACK}:{backend_port}; keepalive 8; }}
    server {{
        listen {LOOPBACK}:{tls_port} ssl http2;
        server_name localhost;
        ssl_certificate {certs.server_cert_path};
        ssl_certificate_key {certs.server_key_path};
        {locations}
    }}
    server {{
        listen {LOOPBACK}:{plain_port};
        server_name localhost;
        {locations}
    }}
}}
"""


def tinyproxy_conf(workdir: Path, port: int, username: str | None, password: str | None) -> str:
    lines = [
        f"Port {port}",
        f"Listen {LOOPBACK}",
        "Timeout 60",
        f'LogFile "{workdir}/tinyproxy.log"',
        "LogLevel Info",
        f'PidFile "{workdir}/tinyproxy.pid"',
        "MaxClients 64",
        "Allow 127.0.0.1",
        # No ConnectPort line: CONNECT is allowed to every port.
    ]
    if username is not None:
        lines.append(f"BasicAuth {username} {password}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------
# The server processes themselves (``python servers.py KIND CONFIG``)


def _load_app() -> Any:
    sys.path.insert(0, str(HERE))
    from app import app

    return app


def run_hypercorn(settings: dict[str, Any]) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{fd}" for fd in settings.pop("fds")]
    config.accesslog = "-"
    config.errorlog = "-"
    # Tests leave keep-alive connections open; don't wait long for them at
    # shutdown (the default is 3 s per server, after SIGTERM).
    config.graceful_timeout = 0.5
    for key, value in settings.items():
        if not hasattr(config, key):
            raise SystemExit(f"unknown hypercorn setting {key!r}")
        setattr(config, key, value)
    asyncio.run(serve(_load_app(), config))


class AsgiH1Handler(BaseHTTPRequestHandler):
    """Serves the ASGI app over HTTP/1.1 only, with the stdlib's parser.

    It ignores ``Upgrade: h2c`` and answers the HTTP/2 preface with 505,
    which is what an HTTP/1.1-only server does. Responses without
    content-length are chunked; the app may send trailers (chunked trailer
    section, RFC 9112 7.1.2).
    """

    protocol_version = "HTTP/1.1"
    # Errors before a version is parsed (e.g. the HTTP/2 preface) still get
    # an HTTP/1.1 status line, not a bare HTTP/0.9 body.
    default_request_version = "HTTP/1.1"
    server_version = "hyper-tests-h1"
    # A response may start long before its body: flush every write; and
    # send each at once (the head and the body go in separate writes, which
    # Nagle's algorithm would hold against the client's delayed ACK).
    wbufsize = 0
    disable_nagle_algorithm = True
    # Every read from the client (an idle keep-alive connection, a request
    # body the app or _drain reads) gives up after this long.
    timeout = 60.0

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; serve every method.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    app: Any = None  # set by run_h1

    def _serve(self) -> None:
        exchange = _H1Exchange(self)
        try:
            asyncio.run(self.app(exchange.scope(), exchange.receive, exchange.send))
            exchange.finish()
        except (ConnectionError, OSError):
            self.close_connection = True


#: Largest unread request body the stdlib bridge reads and drops to keep
#: the connection; above it (or for a chunked body) it announces its close.
DRAIN_LIMIT = 1024 * 1024


class _H1Exchange:
    """One request/response on an AsgiH1Handler connection."""

    def __init__(self, handler: AsgiH1Handler) -> None:
        self.h = handler
        self.chunked_request = "chunked" in handler.headers.get("transfer-encoding", "").lower()
        self.remaining = int(handler.headers.get("content-length", "0") or "0")
        self.request_done = False
        self.no_request_body = not self.chunked_request and self.remaining == 0
        self.started = False
        self.chunked_response = False
        self.want_trailers = False
        self.response_done = False

    def scope(self) -> dict[str, Any]:
        target = self.h.path.encode("latin-1")
        path, _, query = target.partition(b"?")
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in self.h.headers.items()
        ]
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": self.h.command,
            "scheme": "http",
            "path": path.decode("latin-1"),
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": headers,
            "client": self.h.client_address[:2],
            "server": self.h.server.server_address[:2],
            "extensions": {"http.response.trailers": {}},
        }

    def _read_chunk(self) -> bytes:
        rfile = self.h.rfile
        size = int(rfile.readline(1024).split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                pass  # skip request trailers
            self.request_done = True
            return b""
        data = rfile.read(size)
        rfile.readline(8)  # CRLF after the chunk data
        return data

    async def receive(self) -> dict[str, Any]:
        if self.request_done:
            return {"type": "http.disconnect"}
        if self.no_request_body:
            self.request_done = True
            return {"type": "http.request", "body": b"", "more_body": False}
        if self.chunked_request:
            data = self._read_chunk()
        else:
            data = self.h.rfile.read(min(self.remaining, 1024 * 1024))
            if not data:
                raise ConnectionError("client closed during the request body")
            self.remaining -= len(data)
            self.request_done = self.remaining == 0
        return {"type": "http.request", "body": data, "more_body": not self.request_done}

    async def send(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self._start(message)
        elif kind == "http.response.body":
            self._body(bytes(message.get("body", b"")), bool(message.get("more_body", False)))
        elif kind == "http.response.trailers":
            self._trailers(message.get("headers", []))

    def _start(self, message: dict[str, Any]) -> None:
        status = int(message["status"])
        headers = [
            (bytes(k).decode("latin-1"), bytes(v).decode("latin-1")) for k, v in message["headers"]
        ]
        has_length = any(k.lower() == "content-length" for k, _ in headers)
        no_body = self.h.command == "HEAD" or status in (204, 304)
        self.chunked_response = not has_length and not no_body
        self.want_trailers = bool(message.get("trailers", False)) and self.chunked_response
        self.h.send_response(status)
        for name, value in headers:
            self.h.send_header(name, value)
        if not self._body_drainable():
            # The unread request body cannot be skipped: say so before the
            # client reuses the connection (RFC 9112 section 9.6).
            self.h.send_header("Connection", "close")
            self.h.close_connection = True
        if self.chunked_response:
            self.h.send_header("Transfer-Encoding", "chunked")
        self.h.end_headers()
        self.started = True

    def _body(self, body: bytes, more: bool) -> None:
        if self.h.command != "HEAD" and body:
            if self.chunked_response:
                self.h.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
            else:
                self.h.wfile.write(body)
        if not more and not self.want_trailers:
            self._end(b"")

    def _trailers(self, headers: list[tuple[bytes, bytes]]) -> None:
        self._end(b"".join(bytes(k) + b": " + bytes(v) + b"\r\n" for k, v in headers))

    def _end(self, trailer_section: bytes) -> None:
        if self.chunked_response:
            self.h.wfile.write(b"0\r\n" + trailer_section + b"\r\n")
        self.response_done = True

    def finish(self) -> None:
        if not self.started:
            self.h.send_error(500, "app sent no response")
            return
        if not self.response_done:
            self.h.close_connection = True
        # An unread request body would be parsed as the next request: read
        # and drop it (_start announced the close when it cannot be).
        if not self.h.close_connection and not self._drain():
            self.h.close_connection = True

    def _body_drainable(self) -> bool:
        """Whether what the app left of the request body can be skipped:
        a Content-Length body of at most DRAIN_LIMIT bytes still unread."""
        if self.request_done or self.no_request_body:
            return True
        return not self.chunked_request and self.remaining <= DRAIN_LIMIT

    def _drain(self) -> bool:
        """Read the rest of a Content-Length request body; False on EOF."""
        while not (self.request_done or self.no_request_body):
            data = self.h.rfile.read(min(self.remaining, 64 * 1024))
            if not data:
                return False
            self.remaining -= len(data)
            self.request_done = self.remaining == 0
        return True


def run_h1(settings: dict[str, Any]) -> None:
    import threading

    AsgiH1Handler.app = staticmethod(_load_app())
    servers = []
    for fd in settings["fds"]:
        sock = socket.socket(fileno=fd)
        server = ThreadingHTTPServer(sock.getsockname()[:2], AsgiH1Handler, bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        servers.append(server)
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


def exit_with_parent(interval: float = 1.0) -> None:
    """Exit when the test run that started us is gone (e.g. killed), so no
    orphaned server outlives it."""
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str]) -> None:
    kind, settings = argv[1], json.loads(argv[2])
    exit_with_parent()
    with contextlib.suppress(KeyboardInterrupt):
        if kind == "hypercorn":
            run_hypercorn(settings)
        elif kind == "h1":
            run_h1(settings)
        else:
            raise SystemExit(f"unknown server kind {kind!r}")


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


if __name__ == "__main__":
    main(sys.argv)
