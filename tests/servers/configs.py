"""Configuration templates of the Debian servers, and their document root.

Each server gets a private configuration per run: every path (pid file,
logs, temporary files) is inside the run's directory and every listener is
on a loopback port picked for this run.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .certs import Certs
from .process import LOOPBACK

TESTS_DIR = Path(__file__).resolve().parent.parent
#: Where Debian's apache2 package keeps its loadable modules.
APACHE_MODULES = Path("/usr/lib/apache2/modules")

#: Files served by nginx and nghttpd from their document root.
STATIC_FILES: dict[str, bytes] = {
    "index.html": b"<!doctype html>\n<title>hyper tests</title>\n"
    b'<link rel="stylesheet" href="/pushed.css">\n<p>index</p>\n',
    "pushed.css": b"p { color: green; }\n",
    "small.txt": b"a small static file\n",
}


def _big_file() -> bytes:
    # Same bytes as the app's /bytes/1048576, so one helper checks both.
    sys.path.insert(0, str(TESTS_DIR))
    from app import payload

    return payload(1024 * 1024)


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


def apache_conf(
    workdir: Path,
    htdocs: Path,
    tls_port: int,
    plain_port: int,
    backend_port: int,
    certs: Certs,
    extra: str,
) -> str:
    """Apache httpd 2.4 with mod_http2: ``Protocols h2 http/1.1`` on the TLS
    virtual host (ALPN), ``Protocols h2c http/1.1`` on the plaintext one
    (Upgrade and prior knowledge). ``extra`` goes in the main server
    config, e.g. ``MaxKeepAliveRequests 3`` or ``H2MaxSessionStreams 2``."""
    modules = [
        ("mpm_event", "mod_mpm_event"),
        ("authz_core", "mod_authz_core"),
        ("mime", "mod_mime"),
        ("dir", "mod_dir"),
        ("ssl", "mod_ssl"),
        ("http2", "mod_http2"),
        ("proxy", "mod_proxy"),
        ("proxy_http", "mod_proxy_http"),
    ]
    loads = "\n".join(
        f'LoadModule {name}_module "{APACHE_MODULES / file}.so"' for name, file in modules
    )
    # Apache refuses to serve as root: its workers switch to www-data, who
    # reads the document root (made world-readable by the launcher).
    user = "User www-data\nGroup www-data" if os.geteuid() == 0 else ""
    return f"""
ServerRoot "{workdir}"
DefaultRuntimeDir "{workdir}"
PidFile "{workdir}/apache.pid"
ErrorLog "{workdir}/error.log"
LogLevel warn
{loads}
{user}
ServerName localhost
Listen {LOOPBACK}:{tls_port}
Listen {LOOPBACK}:{plain_port}
StartServers 1
ServerLimit 1
ThreadsPerChild 32
MaxRequestWorkers 32
LogFormat "%h \\"%r\\" %>s %b %{{ms}}T" short
CustomLog "{workdir}/access.log" short
TypesConfig /dev/null
AddType text/html .html
AddType text/css .css
AddType text/plain .txt
DocumentRoot "{htdocs}"
DirectoryIndex index.html
<Directory />
    Require all denied
</Directory>
<Directory "{htdocs}">
    Require all granted
</Directory>
ProxyPass "/app/" "http://{LOOPBACK}:{backend_port}/"
ProxyPreserveHost On
<Location "/app/">
    Require all granted
</Location>
{extra}
<VirtualHost {LOOPBACK}:{tls_port}>
    Protocols h2 http/1.1
    SSLEngine on
    SSLCertificateFile "{certs.server_cert_path}"
    SSLCertificateKeyFile "{certs.server_key_path}"
</VirtualHost>
<VirtualHost {LOOPBACK}:{plain_port}>
    Protocols h2c http/1.1
</VirtualHost>
"""


def h2o_conf(
    workdir: Path,
    htdocs: Path,
    tls_port: int,
    plain_port: int,
    backend_port: int,
    certs: Certs,
    extra: str,
) -> str:
    """h2o: a TLS listener (ALPN h2 and http/1.1) and a plaintext one (HTTP/1.1,
    h2c Upgrade and prior knowledge), both serving ``htdocs`` and proxying
    ``/app/`` to the backend. ``extra`` is top-level YAML, e.g.
    ``http2-idle-timeout: 2``."""
    # h2o started as root switches to "nobody" unless told otherwise; the
    # private directory is readable by the current user only.
    user = "user: root" if os.geteuid() == 0 else ""
    paths = f"""
    paths:
      "/app/":
        proxy.reverse.url: "http://{LOOPBACK}:{backend_port}/"
        proxy.preserve-host: ON
      "/":
        file.dir: "{htdocs}"
"""
    return f"""
{user}
pid-file: "{workdir}/h2o.pid"
error-log: "{workdir}/error.log"
access-log: "{workdir}/access.log"
max-connections: 256
{extra}
hosts:
  "localhost":
    listen:
      host: {LOOPBACK}
      port: {tls_port}
      ssl:
        certificate-file: "{certs.server_cert_path}"
        key-file: "{certs.server_key_path}"
        # No OCSP stapling: the test CA has no responder (and no network).
        ocsp-update-interval: 0
{paths}
  "127.0.0.1":
    listen:
      host: {LOOPBACK}
      port: {plain_port}
{paths}
"""
