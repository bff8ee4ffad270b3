"""The benchmark's servers: nginx (with the echo module) and nghttpd, on
loopback over TLS, with the benchmark's files.

Both serve the same document root. nginx also has a slow endpoint
(``/slow``: 10 ms, then a small body), an upload sink (``/upload``: reads the
whole body, then answers with its Content-Length; nginx refuses a body
shorter than announced) and an access log of the connection serial
per request, so the harness can count the connections a client opened.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from servers import (  # noqa: E402
    Certs,
    Launcher,
    NghttpdServer,
    ServerError,
    client_context,
    free_port,
    spawn,
    tls_alpn,
    wait_ready,
)

ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")
SMALL = "/1k.bin"
SLOW = "/slow"
SLOW_BODY = b"slow ok\n"
UPLOAD = "/upload"
#: The pattern big files repeat: an odd length, so a misplaced chunk changes the hash.
PATTERN_LENGTH = 1024 * 1024 + 7


@dataclasses.dataclass(frozen=True)
class Site:
    url: str  # https://localhost:PORT
    port: int
    access_log: Path | None  # nginx only: "connection status bytes" per line


def big_name(size: int) -> str:
    return f"/big-{size}.bin"


def pattern() -> bytes:
    # Deterministic, incompressible enough, and the same in every run.
    seed = hashlib.sha256(b"hyper bench").digest()
    out = bytearray()
    counter = 0
    while len(out) < PATTERN_LENGTH:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:PATTERN_LENGTH])


def write_big(path: Path, size: int) -> str:
    """Write ``size`` bytes of the pattern to ``path``; return their sha256."""
    chunk = pattern()
    digest = hashlib.sha256()
    left = size
    with path.open("wb") as f:
        while left:
            piece = chunk[: min(left, len(chunk))]
            f.write(piece)
            digest.update(piece)
            left -= len(piece)
    return digest.hexdigest()


def small_body() -> bytes:
    return pattern()[:1024]


def make_docroot(directory: Path, big_sizes: list[int]) -> dict[str, str]:
    """The files both servers serve; returns the sha256 of each big file by path."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / SMALL.lstrip("/")).write_bytes(small_body())
    hashes = {}
    for size in sorted(set(big_sizes)):
        name = big_name(size)
        hashes[name] = write_big(directory / name.lstrip("/"), size)
    return hashes


def nginx_conf(workdir: Path, docroot: Path, port: int, certs: Certs) -> str:
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
load_module {ECHO_MODULE};
{user}
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format conn '$connection $status $body_bytes_sent $request_uri';
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    default_type application/octet-stream;
    keepalive_requests 1000000;
    http2_max_concurrent_streams 128;
    server {{
        listen 127.0.0.1:{port} ssl http2;
        server_name localhost;
        ssl_certificate {certs.server_cert_path};
        ssl_certificate_key {certs.server_key_path};
        root {docroot};
        client_max_body_size 0;
        location = {SLOW} {{
            access_log {workdir}/access.log conn;
            echo_sleep 0.01;
            echo -n "{SLOW_BODY.decode().strip()}\\n";
        }}
        location = {UPLOAD} {{
            client_body_buffer_size 16m;
            client_body_in_single_buffer on;
            echo_read_request_body;
            echo -n "$content_length";
        }}
    }}
}}
"""


class Servers:
    """nginx and nghttpd started into ``directory``; ``stop`` ends both."""

    def __init__(
        self, directory: Path, certs: Certs, big_sizes: list[int], with_nghttpd: bool = True
    ) -> None:
        self.directory = directory
        self.certs = certs
        self.docroot = directory / "htdocs"
        self.hashes = make_docroot(self.docroot, big_sizes)
        self.launcher = Launcher(directory / "launcher")
        try:
            self.nginx = self._start_nginx()
            self.nghttpd = self._start_nghttpd() if with_nghttpd else None
        except BaseException:
            self.stop()
            raise

    def _start_nginx(self) -> Site:
        if not ECHO_MODULE.exists():
            raise ServerError(
                f"nginx's echo module is missing ({ECHO_MODULE}): "
                "apt-get install libnginx-mod-http-echo"
            )
        workdir = self.directory / "nginx"
        workdir.mkdir()
        port = free_port()
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(workdir, self.docroot, port, self.certs))
        log = workdir / "nginx.out"
        proc = spawn(
            ["nginx", "-c", str(conf), "-e", str(workdir / "error.log"), "-g", "daemon off;"], log
        )
        self.launcher.procs.append(proc)
        context = client_context(self.certs, ["h2"])
        wait_ready(
            proc,
            lambda: tls_alpn("localhost", port, context) == "h2",
            (log, workdir / "error.log"),
            "nginx",
        )
        return Site(f"https://localhost:{port}", port, workdir / "access.log")

    def _start_nghttpd(self) -> Site:
        server: NghttpdServer = self.launcher.nghttpd("nghttpd", self.certs)
        # Its own document root: link the benchmark's files into it.
        for path in self.docroot.iterdir():
            target = server.htdocs / path.name
            if not target.exists():
                target.symlink_to(path)
        return Site(server.url, server.port, None)

    def stop(self) -> None:
        self.launcher.stop_all()


def count_connections(access_log: Path, offset: int) -> int:
    """Distinct connection serials in the log lines written after ``offset``."""
    if not access_log.exists():
        return 0
    with access_log.open("rb") as f:
        f.seek(offset)
        return len({line.split(b" ", 1)[0] for line in f if line.strip()})


def log_size(access_log: Path | None) -> int:
    if access_log is None or not access_log.exists():
        return 0
    return access_log.stat().st_size
