"""Launch real servers on loopback for the tests.

One module per job:

- ``process``: binaries, free ports, spawning, readiness checks, stopping by
  PID (and the constants: loopback addresses, timeouts).
- ``certs``: the per-run trustme CA and the certificates made from it.
- ``configs``: configuration templates of nginx, Apache httpd, h2o and
  tinyproxy, and the static document root they serve.
- ``launcher``: the ``Launcher`` that starts servers into a directory and
  stops them all, and the dataclasses describing a running server.
- ``asgi_runner``: the server process of hypercorn and of the HTTP/1.1-only
  stdlib bridge (run as a script, never imported).

Everything the tests import from ``servers`` is re-exported here.
"""

from __future__ import annotations

from .certs import Certs, client_context, make_certs
from .configs import (
    STATIC_FILES,
    apache_conf,
    h2o_conf,
    make_htdocs,
    nginx_conf,
    tinyproxy_conf,
)
from .launcher import (
    ASGI_RUNNER,
    ApacheServer,
    H2oServer,
    Launcher,
    NghttpdServer,
    NginxServer,
    ProxyServer,
    Server,
    WebServer,
    iter_log_paths,
)
from .process import (
    LOG_TAIL_LINES,
    LOOPBACK,
    LOOPBACK6,
    PORT_ATTEMPTS,
    READY_TIMEOUT,
    STOP_TIMEOUT,
    ServerError,
    find_binary,
    free_port,
    http_get_ok,
    listening_sockets,
    log_tail,
    spawn,
    stop_process,
    tcp_accepts,
    tls_alpn,
    wait_ready,
)

__all__ = [
    "ASGI_RUNNER",
    "LOG_TAIL_LINES",
    "LOOPBACK",
    "LOOPBACK6",
    "PORT_ATTEMPTS",
    "READY_TIMEOUT",
    "STATIC_FILES",
    "STOP_TIMEOUT",
    "ApacheServer",
    "Certs",
    "H2oServer",
    "Launcher",
    "NghttpdServer",
    "NginxServer",
    "ProxyServer",
    "Server",
    "ServerError",
    "WebServer",
    "apache_conf",
    "client_context",
    "find_binary",
    "free_port",
    "h2o_conf",
    "http_get_ok",
    "iter_log_paths",
    "listening_sockets",
    "log_tail",
    "make_certs",
    "make_htdocs",
    "nginx_conf",
    "spawn",
    "stop_process",
    "tcp_accepts",
    "tinyproxy_conf",
    "tls_alpn",
    "wait_ready",
]
