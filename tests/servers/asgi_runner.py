"""The Python server processes: the ASGI app (tests/app.py) under hypercorn,
or over HTTP/1.1 only under a stdlib server.

This file runs as a script, in its own process, never imported by the
tests: ``python asgi_runner.py hypercorn CONFIG_JSON`` or
``python asgi_runner.py h1 CONFIG_JSON``, where CONFIG_JSON carries the
listening sockets' fds (inherited from the launcher) and, for hypercorn,
Config attributes. It uses the standard library (and hypercorn) only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent.parent


def _load_app() -> Any:
    sys.path.insert(0, str(TESTS_DIR))
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
    # No request limit unless a test asks for one: at its limit (1,000 by
    # default) hypercorn answers streams that crossed its GOAWAY with
    # GOAWAY(PROTOCOL_ERROR), which also kills streams it accepted and began
    # to answer. The session's servers take thousands of requests, so any
    # concurrent test could meet that at random.
    config.keep_alive_max_requests = 10**9
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



if __name__ == "__main__":
    main(sys.argv)
