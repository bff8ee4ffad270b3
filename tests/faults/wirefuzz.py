"""The wire fuzz target: mutated server byte streams against a real client.

Theory of operation
-------------------
A *seed* is what a real server (hypercorn, serving tests/app.py) sent for
one request, recorded by :func:`record_seeds` into ``seeds/``: for HTTP/2
the server's first frame (its SETTINGS, the *preface*) and everything after
it up to the end of stream 1 (the *response*); for HTTP/1.1 the response.
:func:`mutate` changes a seed by a list of operations (flip, set, insert,
delete, duplicate or cut bytes, rewrite a frame header's fields, splice in
another seed). :func:`run_case` feeds the result to a real
:class:`~hyper.HTTP20Connection` or :class:`~hyper.HTTP11Connection` over a
socketpair: the "server" end writes the bytes, then shuts down its sending
side, so a case always ends (EOF) without waiting for a timeout.

HTTP/2 needs two steps: the client waits for the server's SETTINGS while
connecting and sends its request after, so the preface is written first and
the response only once the request is out (a response that arrived before
the request would be a response on an idle stream). When the preface itself
is mutated, both go at once.

The rule checked: only :class:`~hyper.exceptions.HyperError` may escape (any
other exception is an *escape*), and no case may run longer than
:data:`CASE_BOUND` seconds (a *hang*, caught by SIGALRM, so it needs the
main thread).
"""

from __future__ import annotations

import enum
import random
import signal
import socket
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from hyper import HTTP11Connection, HTTP20Connection
from hyper.exceptions import HyperError

SEED_DIR = Path(__file__).resolve().parent / "seeds"
#: A case running longer than this hangs (the client's timeouts are 1 s).
CASE_BOUND = 5.0
#: The client's connect and read timeouts in a case.
CLIENT_TIMEOUT = 1.0
#: Largest input fed (the socketpair holds it without a reader).
MAX_INPUT = 128 * 1024


@dataclass(frozen=True)
class Seed:
    name: str
    protocol: str  # "h2" or "h1"
    preface: bytes  # HTTP/2: the server's SETTINGS frame; HTTP/1.1: b""
    response: bytes

    def dump(self) -> bytes:
        return b"%d\n" % len(self.preface) + self.preface + self.response

    @classmethod
    def load(cls, path: Path) -> Seed:
        data = path.read_bytes()
        size, _, rest = data.partition(b"\n")
        preface, response = rest[: int(size)], rest[int(size) :]
        return cls(path.stem, path.suffix.lstrip("."), preface, response)


def load_seeds() -> list[Seed]:
    return [Seed.load(p) for p in sorted(SEED_DIR.glob("*.h[12]"))]


# -- mutations ------------------------------------------------------------------------

OPS = ("flip", "set", "insert", "delete", "duplicate", "cut", "frame-length", "frame-type",
       "frame-flags", "frame-stream", "splice")

#: One operation: its name and two numbers it interprets (position, value...).
Op = tuple[str, int, int]


def frame_starts(data: bytes) -> list[int]:
    """Where the HTTP/2 frames of ``data`` begin (following the lengths)."""
    starts, at = [], 0
    while at + 9 <= len(data):
        starts.append(at)
        at += 9 + int.from_bytes(data[at : at + 3], "big")
    return starts


def _apply(data: bytearray, op: Op, other: bytes) -> None:
    name, a, b = op
    size = len(data)
    pos = a % (size + 1)
    if name == "flip" and size:
        data[pos % size] ^= 1 << (b % 8)
    elif name == "set" and size:
        data[pos % size] = b % 256
    elif name == "insert":
        data[pos:pos] = bytes([b % 256]) * (1 + b % 7)
    elif name == "delete":
        del data[pos : pos + 1 + b % 16]
    elif name == "duplicate":
        data[pos:pos] = data[pos : pos + 1 + b % 64]
    elif name == "cut":
        del data[pos:]
    elif name == "splice" and other:
        start = b % len(other)
        data[pos:pos] = other[start : start + 1 + a % 64]
    elif name.startswith("frame-"):
        starts = frame_starts(bytes(data))
        if not starts:
            return
        at = starts[a % len(starts)]
        if name == "frame-length":
            data[at : at + 3] = (b % (1 << 24)).to_bytes(3, "big")
        elif name == "frame-type":
            data[at + 3] = b % 12
        elif name == "frame-flags":
            data[at + 4] = b % 256
        else:
            data[at + 5 : at + 9] = (b % 8).to_bytes(4, "big")


def mutate(data: bytes, ops: Sequence[Op], other: bytes = b"") -> bytes:
    """``data`` changed by ``ops`` in order (``other``: bytes to splice in)."""
    buffer = bytearray(data)
    for op in ops:
        _apply(buffer, op, other)
    return bytes(buffer[:MAX_INPUT])


def random_ops(rng: random.Random, count: int) -> list[Op]:
    return [(rng.choice(OPS), rng.randrange(1 << 20), rng.randrange(1 << 24))
            for _ in range(count)]


# -- one case ---------------------------------------------------------------------------


class Outcome(enum.Enum):
    OK = "ok"
    HYPER_ERROR = "HyperError"
    ESCAPE = "escape"
    HANG = "hang"


class _Hang(BaseException):
    """Raised by the alarm in a case that ran past CASE_BOUND (a
    BaseException: code under test catching Exception must not swallow it)."""


def _alarm(_signum: int, _frame: FrameType | None) -> None:
    raise _Hang


@dataclass
class Result:
    outcome: Outcome
    detail: str = ""
    #: Responses read to their end before the case ended.
    responses: int = 0


def _pair() -> tuple[socket.socket, socket.socket]:
    client, server = socket.socketpair()
    for sock in (client, server):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return client, server


def _exchange_h2(client: socket.socket, server: socket.socket, preface: bytes,
                 response: bytes, together: bool, result: Result) -> None:
    conn = HTTP20Connection("fuzz.example", 80, secure=False, sock=client,
                            timeout=CLIENT_TIMEOUT)
    try:
        if together:
            server.sendall(preface + response)
            server.shutdown(socket.SHUT_WR)
        else:
            server.sendall(preface)
        sid = conn.request("GET", "/")
        if not together:
            server.sendall(response)
            server.shutdown(socket.SHUT_WR)
        conn.get_response(sid).read()
        result.responses += 1
        # Whatever came after the response meets the next request.
        conn.get_response(conn.request("GET", "/again")).read()
        result.responses += 1
    finally:
        conn.close()


def _exchange_h1(client: socket.socket, server: socket.socket, response: bytes,
                 result: Result) -> None:
    conn = HTTP11Connection("fuzz.example", 80, sock=client, timeout=CLIENT_TIMEOUT)
    try:
        server.sendall(response)
        server.shutdown(socket.SHUT_WR)
        conn.request("GET", "/")
        conn.get_response().read()
        result.responses += 1
        conn.request("GET", "/again")
        conn.get_response().read()
        result.responses += 1
    finally:
        conn.close()


def run_case(protocol: str, preface: bytes, response: bytes, together: bool = False) -> Result:
    """Feed one server byte stream to a client; what came of it."""
    client, server = _pair()
    result = Result(Outcome.OK)
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, CASE_BOUND)
    try:
        if protocol == "h2":
            _exchange_h2(client, server, preface, response, together, result)
        else:
            _exchange_h1(client, server, response, result)
    except _Hang:
        result.outcome, result.detail = Outcome.HANG, traceback.format_exc()
    except HyperError as exc:
        result.outcome, result.detail = Outcome.HYPER_ERROR, repr(exc)
    except Exception:
        result.outcome, result.detail = Outcome.ESCAPE, traceback.format_exc()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        client.close()
        server.close()
    return result


def run_mutated(seed: Seed, ops: Sequence[Op], other: Seed, in_preface: bool) -> Result:
    """``seed`` with ``ops`` applied to its response (or to its preface and
    response together when ``in_preface``)."""
    if in_preface and seed.protocol == "h2":
        data = mutate(seed.preface + seed.response, ops, other.response)
        return run_case("h2", b"", data, together=True)
    return run_case(seed.protocol, seed.preface, mutate(seed.response, ops, other.response))


# -- recording ------------------------------------------------------------------------

H2_PATHS = ["/get", "/gzip", "/deflate", "/brotli", "/stream/40000", "/trailers",
            "/status/204", "/redirect/1", "/headers/repeat"]
H1_PATHS = ["/get", "/gzip", "/stream/40000", "/trailers", "/status/204", "/redirect/1",
            "/headers/repeat"]


def _seed_name(path: str) -> str:
    return path.strip("/").replace("/", "-")


def _record_h2(port: int, path: str) -> Seed:
    import hpack
    from hyperframe.frame import Frame, HeadersFrame, SettingsFrame

    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    with sock:
        block = hpack.Encoder().encode([(":method", "GET"), (":scheme", "http"),
                                        (":authority", "fuzz.example"), (":path", path)])
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + SettingsFrame(0).serialize()
                     + HeadersFrame(1, block, flags=["END_HEADERS", "END_STREAM"]).serialize())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise RuntimeError(f"{path}: the server closed before the end of stream 1")
            data += chunk
            starts = frame_starts(data)
            ended = False
            for at in starts:
                length = int.from_bytes(data[at : at + 3], "big")
                if at + 9 + length > len(data):
                    break
                frame, _ = Frame.parse_frame_header(memoryview(data[at : at + 9]))
                if frame.stream_id == 1 and data[at + 4] & 0x1 and data[at + 3] in (0, 1):
                    ended = True
                    data = data[: at + 9 + length]
                    break
            if ended:
                break
    first = 9 + int.from_bytes(data[:3], "big")
    return Seed(_seed_name(path), "h2", data[:first], data[first:])


def _record_h1(port: int, path: str) -> Seed:
    import h11

    parser = h11.Connection(h11.CLIENT)
    request = parser.send(h11.Request(method="GET", target=path,
                                      headers=[("Host", "fuzz.example")]))
    request += parser.send(h11.EndOfMessage())
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    with sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            data += chunk
            parser.receive_data(chunk)
            while True:
                event = parser.next_event()
                if event is h11.NEED_DATA or isinstance(event, h11.EndOfMessage):
                    break
            if isinstance(event, h11.EndOfMessage) or not chunk:
                break
    return Seed(_seed_name(path), "h1", b"", data)


def record_seeds(port: int) -> Iterator[Seed]:
    """Record every seed from a plaintext hypercorn (h2c and HTTP/1.1) on ``port``."""
    for path in H2_PATHS:
        yield _record_h2(port, path)
    for path in H1_PATHS:
        yield _record_h1(port, path)
