"""The ASGI application every loopback test server serves.

Every answer is deterministic so that tests can state exactly what they
expect. The same app runs under hypercorn (HTTP/2 over TLS, h2c, HTTP/1.1)
and under the HTTP/1.1-only stdlib bridge in ``servers/asgi_runner.py``; nginx proxies
to it under ``/app/`` (hypercorn then gets ``root_path="/app"``, which the
app puts in front of every URL it generates, e.g. redirect targets).

Endpoints (see ``ROUTES`` at the bottom):

- ``GET /get``: JSON with method, path, raw query, headers as received and
  the HTTP version ("1.1" or "2").
- ``ANY /echo``: the request body back, ``x-body-length``, octet-stream.
- ``ANY /anything``: like ``/get`` plus ``body`` (latin-1) and ``json``.
- ``/status/{code}``, ``/bytes/{n}``, ``/stream/{n}``, ``/gzip``,
  ``/deflate``, ``/brotli``, ``/zstd``, ``/headers/repeat``,
  ``/cookies/set?k=v``, ``/cookies``, ``/redirect/{n}``,
  ``/redirect-to?url=&status=``, ``/basic-auth/{user}/{pass}``,
  ``/delay/{s}``, ``/slow-body/{s}``, ``/trailers``, ``/push``,
  ``/pushed/{name}``, ``/token/{tok}``.
- ``/flaky/{code}/{n}/{tok}``: the first ``n`` requests with token ``tok``
  are answered ``code`` (with ``Retry-After: {s}`` given ``?retry-after=s``),
  later ones 200 with the number of the attempt as body (retry tests).
- ``/bomb/{coding}``: a decompression bomb (``BOMB_SIZE`` zero bytes, compressed).

``payload(n)`` gives the bytes ``/bytes/{n}`` and ``/stream/{n}`` send.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import random
import re
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

try:
    import brotli
except ImportError:  # pragma: no cover - brotli is an optional extra
    brotli = None

try:
    import zstandard
except ImportError:  # pragma: no cover - zstandard is an optional extra
    zstandard = None

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Handler = Callable[["Request", "re.Match[str]"], Awaitable[None]]

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB

#: Largest body /bytes and /stream will produce.
MAX_BYTES = 2 * GIB
#: Longest wait /delay and /slow-body will make.
MAX_DELAY = 10.0
#: The repeated unit of every generated body: 64 KiB of seeded random bytes,
#: so a misplaced or duplicated frame shows up as a mismatch.
BLOCK = random.Random(20240229).randbytes(64 * KIB)
#: Generated bodies go out in pieces of this size (a multiple of BLOCK).
PIECE = BLOCK * (MIB // len(BLOCK))

PUSHED = {"a": b"pushed resource a\n", "b": b"pushed resource b\n"}
TRAILERS = [(b"x-trailer-one", b"alpha"), (b"x-trailer-two", b"beta")]
TRAILERS_BODY = b"body before trailers\n"


def payload(n: int) -> bytes:
    """The first ``n`` bytes of the endless repetition of ``BLOCK``."""
    whole, rest = divmod(n, len(BLOCK))
    return BLOCK * whole + BLOCK[:rest]


def _pieces(n: int, size: int) -> list[int]:
    """Sizes of consecutive pieces of at most ``size`` bytes adding up to n."""
    sizes = [size] * (n // size)
    if n % size:
        sizes.append(n % size)
    return sizes


class Request:
    """One request as the app sees it, with helpers to answer it."""

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send

    @property
    def method(self) -> str:
        return str(self.scope["method"])

    @property
    def path(self) -> str:
        raw = self.scope.get("raw_path") or self.scope["path"].encode("utf-8")
        return bytes(raw).partition(b"?")[0].decode("latin-1")

    @property
    def query(self) -> str:
        return bytes(self.scope["query_string"]).decode("latin-1")

    @property
    def root(self) -> str:
        return str(self.scope.get("root_path", ""))

    @property
    def headers(self) -> Headers:
        return [(bytes(k), bytes(v)) for k, v in self.scope["headers"]]

    def header_values(self, name: bytes) -> list[bytes]:
        return [v for k, v in self.headers if k.lower() == name]

    def has_extension(self, name: str) -> bool:
        return name in self.scope.get("extensions", {})

    async def body(self) -> bytes:
        chunks = []
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def describe(self) -> dict[str, Any]:
        """The JSON /get answers with."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": [[k.decode("latin-1"), v.decode("latin-1")] for k, v in self.headers],
            "http_version": str(self.scope["http_version"]),
        }

    async def start(self, status: int, headers: Headers, trailers: bool = False) -> None:
        message: Message = {"type": "http.response.start", "status": status, "headers": headers}
        if trailers:
            message["trailers"] = True
        await self.send(message)

    async def respond(self, status: int, body: bytes = b"", headers: Headers | None = None) -> None:
        all_headers = [(b"content-length", str(len(body)).encode()), *(headers or [])]
        await self.start(status, all_headers)
        await self.send({"type": "http.response.body", "body": body, "more_body": False})

    async def respond_json(
        self, data: Any, status: int = 200, headers: Headers | None = None
    ) -> None:
        body = json.dumps(data, sort_keys=True).encode()
        await self.respond(status, body, [(b"content-type", b"application/json")] + (headers or []))

    async def redirect(
        self, location: str, status: int = 302, extra: Headers | None = None
    ) -> None:
        headers = [(b"location", location.encode("latin-1"))] + (extra or [])
        await self.respond(status, b"", headers)


async def get(req: Request, match: re.Match[str]) -> None:
    await req.respond_json(req.describe())


async def echo(req: Request, match: re.Match[str]) -> None:
    body = await req.body()
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"x-body-length", str(len(body)).encode()),
    ]
    await req.respond(200, body, headers)


async def anything(req: Request, match: re.Match[str]) -> None:
    body = await req.body()
    data = req.describe()
    data["body"] = body.decode("latin-1")
    try:
        data["json"] = json.loads(body)
    except ValueError:
        data["json"] = None
    await req.respond_json(data)


async def status(req: Request, match: re.Match[str]) -> None:
    code = int(match["code"])
    if not 200 <= code <= 599:
        await req.respond(400, b"status must be within 200..599\n")
        return
    if code in (204, 304):
        # RFC 9110 15.3.5/15.4.5: these responses carry no content.
        await req.start(code, [])
        await req.send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    await req.respond(code)


def _slice(offset: int, size: int) -> bytes:
    """``payload(offset + size)[offset:]`` without building the prefix."""
    if size == len(PIECE) and offset % len(BLOCK) == 0:
        return PIECE
    start = offset % len(BLOCK)
    return payload(start + size)[start:]


async def _send_generated(req: Request, piece_sizes: list[int]) -> None:
    offset = 0
    for size in piece_sizes:
        chunk = _slice(offset, size)
        offset += size
        await req.send({"type": "http.response.body", "body": chunk, "more_body": True})
    await req.send({"type": "http.response.body", "body": b"", "more_body": False})


async def generated_bytes(req: Request, match: re.Match[str]) -> None:
    n = min(int(match["n"]), MAX_BYTES)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(n).encode()),
    ]
    await req.start(200, headers)
    await _send_generated(req, _pieces(n, len(PIECE)))


async def stream(req: Request, match: re.Match[str]) -> None:
    n = min(int(match["n"]), MAX_BYTES)
    # At least four body messages when n allows, so framing is exercised.
    size = max(1, min(len(PIECE), -(-n // 4)))
    await req.start(200, [(b"content-type", b"application/octet-stream")])
    await _send_generated(req, _pieces(n, size))


def _gzip(data: bytes) -> bytes:
    # zlib writes mtime 0 in the gzip header: identical output every run.
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return compressor.compress(data) + compressor.flush()


def _compressors() -> dict[str, tuple[bytes, Callable[[bytes], bytes]]]:
    table: dict[str, tuple[bytes, Callable[[bytes], bytes]]] = {
        "gzip": (b"gzip", _gzip),
        # RFC 9110 8.4.1.2: "deflate" is the zlib format (RFC 1950).
        "deflate": (b"deflate", zlib.compress),
    }
    if brotli is not None:
        table["brotli"] = (b"br", brotli.compress)
    if zstandard is not None:
        table["zstd"] = (b"zstd", lambda data: zstandard.ZstdCompressor().compress(data))
    return table


COMPRESSORS = _compressors()


async def compressed(req: Request, match: re.Match[str]) -> None:
    coding, compress = COMPRESSORS[match["coding"]]
    data = req.describe()
    data[match["coding"]] = True
    plain = json.dumps(data, sort_keys=True).encode()
    headers = [(b"content-type", b"application/json"), (b"content-encoding", coding)]
    await req.respond(200, compress(plain), headers)


#: What a /bomb body decodes to: 1 GiB of zeros.
BOMB_SIZE = GIB


@functools.cache
def bomb(coding: str) -> bytes:
    """BOMB_SIZE zeros in ``coding``, made once per process. gzip is 16
    members of 64 MiB each (RFC 1952 section 2.2 allows a series), which
    takes a tenth of the time of one 1 GiB member and decodes the same."""
    zeros = bytes(MIB)
    if coding == "gzip":
        member = zlib.compressobj(9, zlib.DEFLATED, 31)
        one = b"".join(member.compress(zeros) for _ in range(64)) + member.flush()
        return one * (BOMB_SIZE // (64 * MIB))
    if coding == "deflate":
        stream = zlib.compressobj(1)
        return b"".join(stream.compress(zeros) for _ in range(BOMB_SIZE // MIB)) + stream.flush()
    if coding == "br":
        br = brotli.Compressor(quality=1)
        return b"".join(br.process(zeros) for _ in range(BOMB_SIZE // MIB)) + br.finish()
    zstd = zstandard.ZstdCompressor().compressobj()
    return b"".join(zstd.compress(zeros) for _ in range(BOMB_SIZE // MIB)) + zstd.flush()


async def bomb_endpoint(req: Request, match: re.Match[str]) -> None:
    coding = match["coding"]
    headers = [(b"content-type", b"application/octet-stream"),
               (b"content-encoding", coding.encode())]
    await req.respond(200, bomb(coding), headers)


async def headers_repeat(req: Request, match: re.Match[str]) -> None:
    headers = [
        (b"set-cookie", b"first=1; Path=/"),
        (b"set-cookie", b"second=2; Path=/"),
        (b"x-multi", b"one"),
        (b"x-multi", b"two"),
        (b"content-type", b"text/plain"),
    ]
    await req.respond(200, b"repeated headers\n", headers)


async def headers_many(req: Request, match: re.Match[str]) -> None:
    n = int(match["n"])
    headers = [(f"x-h{i}".encode(), b"v") for i in range(n)]
    await req.respond(200, b"many headers\n", [(b"content-type", b"text/plain"), *headers])


async def cookies_set(req: Request, match: re.Match[str]) -> None:
    pairs = parse_qsl(req.query, keep_blank_values=True)
    cookies = [(b"set-cookie", f"{k}={v}; Path=/".encode("latin-1")) for k, v in pairs]
    await req.redirect(req.root + "/cookies", 302, cookies)


def _received_cookies(req: Request) -> dict[str, str]:
    # HTTP/2 may split Cookie into several fields (RFC 9113 8.2.3): join all.
    cookies: dict[str, str] = {}
    for value in req.header_values(b"cookie"):
        for part in value.decode("latin-1").split(";"):
            name, sep, val = part.strip().partition("=")
            if sep:
                cookies[name] = val
    return cookies


async def cookies(req: Request, match: re.Match[str]) -> None:
    await req.respond_json({"cookies": _received_cookies(req)})


async def redirect(req: Request, match: re.Match[str]) -> None:
    n = int(match["n"])
    target = "/get" if n <= 1 else f"/redirect/{n - 1}"
    await req.redirect(req.root + target)


async def redirect_to(req: Request, match: re.Match[str]) -> None:
    args = dict(parse_qsl(req.query, keep_blank_values=True))
    code = int(args.get("status", "302"))
    if not 300 <= code <= 399 or "url" not in args:
        await req.respond(400, b"need url= and a 3xx status=\n")
        return
    await req.redirect(args["url"], code)


async def basic_auth(req: Request, match: re.Match[str]) -> None:
    user, password = unquote(match["user"]), unquote(match["password"])
    expected = b"Basic " + base64.b64encode(f"{user}:{password}".encode())
    if expected in req.header_values(b"authorization"):
        await req.respond_json({"authenticated": True, "user": user})
        return
    challenge = [(b"www-authenticate", b'Basic realm="hyper-tests"')]
    await req.respond_json({"authenticated": False}, 401, challenge)


async def delay(req: Request, match: re.Match[str]) -> None:
    await asyncio.sleep(min(float(match["seconds"]), MAX_DELAY))
    await req.respond_json(req.describe())


# Requests of each gather group so far, and the event set when it is full.
_GROUPS: dict[str, tuple[int, asyncio.Event]] = {}


async def gather(req: Request, match: re.Match[str]) -> None:
    """Answer once ``n`` requests of the group have arrived, or 504 after
    MAX_DELAY s: only a client with all of them in flight at once gets 200s."""
    name, wanted = match["group"], int(match["n"])
    count, full = _GROUPS.get(name, (0, asyncio.Event()))
    _GROUPS[name] = (count + 1, full)
    if count + 1 >= wanted:
        full.set()
    try:
        await asyncio.wait_for(full.wait(), MAX_DELAY)
    except asyncio.TimeoutError:
        arrived = _GROUPS[name][0]
        await req.respond(504, f"only {arrived} of {wanted} requests came\n".encode())
        return
    await req.respond_json(req.describe())


async def slow_body(req: Request, match: re.Match[str]) -> None:
    body = b"slow body\n"
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"text/plain")]
    await req.start(200, headers)
    await asyncio.sleep(min(float(match["seconds"]), MAX_DELAY))
    await req.send({"type": "http.response.body", "body": body, "more_body": False})


async def trailers(req: Request, match: re.Match[str]) -> None:
    # hypercorn offers the extension on HTTP/2 only, and sends the trailers
    # only when the request carried "te: trailers".
    if not req.has_extension("http.response.trailers"):
        await req.respond(200, TRAILERS_BODY, [(b"x-trailers", b"unsupported")])
        return
    await req.start(200, [(b"content-type", b"text/plain")], trailers=True)
    await req.send({"type": "http.response.body", "body": TRAILERS_BODY, "more_body": False})
    await req.send({"type": "http.response.trailers", "headers": TRAILERS, "more_trailers": False})


async def push(req: Request, match: re.Match[str]) -> None:
    if req.has_extension("http.response.push"):
        for name in sorted(PUSHED):
            await req.send({"type": "http.response.push", "path": f"/pushed/{name}", "headers": []})
    await req.respond(200, b"pushed a and b\n", [(b"content-type", b"text/plain")])


async def pushed(req: Request, match: re.Match[str]) -> None:
    await req.respond(200, PUSHED[match["name"]], [(b"content-type", b"text/plain")])


async def token(req: Request, match: re.Match[str]) -> None:
    tok = match["tok"]
    await req.respond(200, tok.encode("latin-1"), [(b"x-token", tok.encode("latin-1"))])


#: Requests seen so far per /flaky token.
_FLAKY_ATTEMPTS: dict[str, int] = {}


async def flaky(req: Request, match: re.Match[str]) -> None:
    tok = match["tok"]
    attempt = _FLAKY_ATTEMPTS[tok] = _FLAKY_ATTEMPTS.get(tok, 0) + 1
    if attempt > int(match["n"]):
        await req.respond(200, str(attempt).encode())
        return
    query = dict(parse_qsl(req.query))
    headers = [(b"retry-after", query["retry-after"].encode())] if "retry-after" in query else []
    await req.respond(int(match["code"]), str(attempt).encode(), headers)


_CODINGS = "|".join(sorted(COMPRESSORS))

ROUTES: list[tuple[re.Pattern[str], Handler]] = [
    (re.compile(p), h)
    for p, h in [
        (r"/get", get),
        (r"/echo", echo),
        (r"/anything(?:/.*)?", anything),
        (r"/status/(?P<code>\d{3})", status),
        (r"/bytes/(?P<n>\d{1,12})", generated_bytes),
        (r"/stream/(?P<n>\d{1,12})", stream),
        (rf"/(?P<coding>{_CODINGS})", compressed),
        (r"/headers/repeat", headers_repeat),
        (r"/headers/many/(?P<n>\d{1,3})", headers_many),
        (r"/cookies/set", cookies_set),
        (r"/cookies", cookies),
        (r"/redirect/(?P<n>\d{1,3})", redirect),
        (r"/redirect-to", redirect_to),
        (r"/basic-auth/(?P<user>[^/]+)/(?P<password>[^/]+)", basic_auth),
        (r"/delay/(?P<seconds>\d+(?:\.\d+)?)", delay),
        (r"/slow-body/(?P<seconds>\d+(?:\.\d+)?)", slow_body),
        (r"/gather/(?P<group>[A-Za-z0-9_-]{1,64})/(?P<n>\d{1,4})", gather),
        (r"/trailers", trailers),
        (r"/push", push),
        (r"/pushed/(?P<name>[ab])", pushed),
        (r"/token/(?P<tok>[A-Za-z0-9._~-]{1,200})", token),
        (r"/flaky/(?P<code>[2-5]\d\d)/(?P<n>\d{1,3})/(?P<tok>[A-Za-z0-9._~-]{1,200})", flaky),
        (r"/bomb/(?P<coding>gzip|deflate|br|zstd)", bomb_endpoint),
    ]
]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    if scope["type"] != "http":
        return
    req = Request(scope, receive, send)
    for pattern, handler in ROUTES:
        match = pattern.fullmatch(req.path)
        if match is not None:
            await handler(req, match)
            return
    await req.respond(404, b"not found\n", [(b"content-type", b"text/plain")])


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
