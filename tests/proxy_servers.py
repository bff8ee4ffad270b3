"""Proxies on loopback for the proxy tests: microsocks (SOCKS5) and an
https:// proxy (TLS in front of tinyproxy).

* :func:`start_microsocks` runs Debian's microsocks on a free port (with a
  username and password when given) and stops it by its PID.
* :class:`TLSFrontend` is the https:// proxy: it accepts TLS on loopback
  (the test certificate) and carries the decrypted bytes to tinyproxy, the
  way nginx's stream module with ``ssl_preread`` off would. One thread
  accepts; one thread per connection relays, both ways, until either side
  closes. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from servers import LOOPBACK, ServerError, free_port, spawn, stop_process, tcp_accepts, wait_ready

RELAY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Socks:
    host: str
    port: int
    pid: int
    log_paths: tuple[Path, ...]
    username: str | None = None
    password: str | None = None

    def url(self, scheme: str = "socks5h", credentials: tuple[str, str] | None = None) -> str:
        auth = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        return f"{scheme}://{auth}{self.host}:{self.port}"


@contextlib.contextmanager
def start_microsocks(
    binary: str, workdir: Path, username: str | None = None, password: str | None = None
) -> Iterator[Socks]:
    """microsocks on 127.0.0.1, stopped by its PID on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = free_port()
        argv = [binary, "-i", LOOPBACK, "-p", str(port)]
        if username is not None:
            argv += ["-u", username, "-P", str(password)]
        log = workdir / f"microsocks-{port}.log"
        proc = spawn(argv, log)
        try:
            wait_ready(proc, lambda port=port: tcp_accepts(port), (log,), "microsocks")
        except ServerError:
            # The port was taken in between: try another.
            stop_process(proc)
            continue
        try:
            yield Socks(LOOPBACK, port, proc.pid, (log,), username, password)
        finally:
            stop_process(proc)
        return
    raise ServerError("microsocks did not start on any of 5 ports")


class TLSFrontend:
    """TLS on 127.0.0.1 (``context``), relayed in plaintext to ``upstream``."""

    def __init__(self, context: ssl.SSLContext, upstream: tuple[str, int]) -> None:
        self._context = context
        self._upstream = upstream
        self._listener = socket.create_server((LOOPBACK, 0))
        self._listener.settimeout(0.2)
        self.host = LOOPBACK
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.errors: list[BaseException] = []
        self._accepter = threading.Thread(target=self._accept, daemon=True)
        self._accepter.start()

    def url(self, credentials: tuple[str, str] | None = None) -> str:
        auth = f"{credentials[0]}:{credentials[1]}@" if credentials else ""
        return f"https://{auth}localhost:{self.port}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(RELAY_TIMEOUT)
        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            # The client gave up on the handshake (a test of verification).
            conn.close()
            return
        try:
            with tls, socket.create_connection(self._upstream, timeout=RELAY_TIMEOUT) as up:
                _relay(tls, up, self._stop)
        except OSError as exc:
            self.errors.append(exc)

    def close(self) -> None:
        self._stop.set()
        self._accepter.join(RELAY_TIMEOUT)
        for thread in self._threads:
            thread.join(RELAY_TIMEOUT)
        self._listener.close()


def _relay(tls: ssl.SSLSocket, plain: socket.socket, stop: threading.Event) -> None:
    """Both ways until a side closes; ``tls`` may hold decrypted bytes that
    select() cannot see (``pending()``), so it is read first."""
    with selectors.DefaultSelector() as selector:
        selector.register(tls, selectors.EVENT_READ, (tls, plain))
        selector.register(plain, selectors.EVENT_READ, (plain, tls))
        while not stop.is_set():
            ready = [(tls, plain)] if tls.pending() else [
                key.data for key, _ in selector.select(0.2)]
            for source, target in ready:
                try:
                    data = source.recv(65536)
                except (ConnectionResetError, ssl.SSLError):
                    return
                if not data:
                    return
                target.sendall(data)


def nothing_listens() -> int:
    """A loopback port with no listener (connections to it are refused)."""
    return free_port()


__all__ = ["Socks", "TLSFrontend", "nothing_listens", "start_microsocks"]
