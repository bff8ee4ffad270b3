"""Server processes: binaries, ports, spawning, readiness and stopping.

Every server runs in its own process, writes its output to a log file, is
waited for with a bounded readiness check and is stopped by its own PID.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"
LOOPBACK6 = "::1"
#: Longest time a server may take to become ready.
READY_TIMEOUT = 30.0
#: Longest time a server may take to exit after SIGTERM before SIGKILL.
STOP_TIMEOUT = 10.0
#: How many ports to try for servers that bind by themselves.
PORT_ATTEMPTS = 5
LOG_TAIL_LINES = 80


class ServerError(RuntimeError):
    """A test server did not start; the message carries its log."""



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


def spawn(
    argv: list[str],
    log_path: Path,
    pass_fds: tuple[int, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in the log's directory, its output going to the log;
    ``env`` adds to (or overrides) this process's environment."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            pass_fds=pass_fds,
            cwd=str(log_path.parent),
            env=None if env is None else {**os.environ, **env},
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


def port_in_use(logs: tuple[Path, ...]) -> bool:
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
