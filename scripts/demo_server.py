"""The demo's server: a tiny ASGI app under hypercorn, HTTP/2 over TLS.

Run by scripts/demo.py as ``python demo_server.py FD CERT KEY``: FD is an
already listening socket inherited from the parent, so the port is known
before this process starts and nobody can take it in between.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any

Message = dict[str, Any]

# Each answer waits a little; the slowest one is asked first, so the demo
# shows responses read out of order on one multiplexed connection.
PAGES: dict[str, tuple[float, bytes]] = {
    "/slow": (0.5, b"I took half a second, yet nobody waited for me.\n"),
    "/hello": (0.0, b"Hello from hypercorn!\n"),
    "/fruit/apple": (0.1, b"apple\n"),
    "/fruit/pear": (0.2, b"pear\n"),
}


async def app(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    if scope["type"] != "http":
        return
    delay, body = PAGES.get(scope["path"], (0.0, b"not found\n"))
    status = 200 if scope["path"] in PAGES else 404
    await asyncio.sleep(delay)
    protocol = f"HTTP/{scope['http_version']}".encode()
    headers = [
        (b"content-type", b"text/plain"),
        (b"content-length", str(len(body)).encode()),
        (b"x-served-over", protocol),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv: list[str]) -> None:
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    fd, cert, key = argv[1:4]
    config = Config()
    config.bind = [f"fd://{fd}"]
    config.certfile = cert
    config.keyfile = key
    config.alpn_protocols = ["h2", "http/1.1"]
    config.errorlog = None
    asyncio.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main(sys.argv)
