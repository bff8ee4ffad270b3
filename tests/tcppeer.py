"""A scripted TCP peer on loopback: an HTTP/1.1 server, a CONNECT proxy or a
"TLS server" that misbehaves on demand.

:class:`TcpPeer` listens on 127.0.0.1 (a free port) and, in a thread, accepts
one connection per *script*, in order; a script is a list of steps, each a
callable taking the :class:`PeerConn`. The step builders below cover the
moves the tests need: read a request head or body, answer bytes, send a FIN,
hang up, reset, wait for the test, relay to a real server...

* Feeding: with ``feed="whole"`` an answer goes out in one ``sendall``; with
  ``feed="bytewise"`` one byte at a time (TCP_NODELAY, so the client really
  gets them apart).
* Ending: after its last step the peer reads until the client closes, so a
  test must close (or break) its connection before :meth:`TcpPeer.join`.
  A connection the script hung up or reset is not waited for.
* Failing: every wait is bounded (``timeout``). An error in the thread, a
  scripted connection that never came or a thread still running when joined
  is raised by :meth:`TcpPeer.join` as :class:`PeerFailure`, never swallowed.
"""

from __future__ import annotations

import fcntl
import selectors
import socket
import struct
import termios
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hyper import HTTP11Connection

__all__ = [
    "FEEDS",
    "JOIN_TIMEOUT",
    "OK",
    "STEP_TIMEOUT",
    "PeerConn",
    "PeerFailure",
    "Peers",
    "Step",
    "TcpPeer",
    "body",
    "delivered",
    "fin",
    "h1",
    "hang_up",
    "head",
    "read_some",
    "relay",
    "reply",
    "reset",
    "signal",
    "wait",
]

FEEDS = ("whole", "bytewise")
# A small complete HTTP/1.1 answer.
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
STEP_TIMEOUT = 10.0
# Long enough for any script that is not stuck; short enough to beat pytest-timeout.
JOIN_TIMEOUT = 30.0


class PeerFailure(AssertionError):
    """The peer's script failed (an AssertionError: the test fails)."""


class PeerConn:
    """One accepted connection, as the steps see it."""

    def __init__(self, sock: socket.socket, feed: str, timeout: float) -> None:
        self.sock = sock
        self.feed = feed
        self.timeout = timeout
        #: Bytes received and not consumed by a step yet.
        self.buffer = b""
        self.heads: list[bytes] = []
        self.bodies: list[bytes] = []
        #: Bytes the client sent after the script ended.
        self.drained = 0
        self.closed = False

    # -- receiving ----------------------------------------------------------------

    def _recv(self) -> bytes:
        try:
            return self.sock.recv(65536)
        except ConnectionResetError:
            # A reset is the client going away too: the caller decides whether
            # that is an error.
            return b""

    def _fill(self, what: str) -> None:
        data = self._recv()
        if not data:
            raise PeerFailure(f"EOF before {what}; got {self.buffer!r}")
        self.buffer += data

    def read_until(self, marker: bytes, what: str) -> bytes:
        """The bytes before ``marker`` (which is consumed too)."""
        while marker not in self.buffer:
            self._fill(what)
        found, _, self.buffer = self.buffer.partition(marker)
        return found

    def read_exact(self, size: int, what: str) -> bytes:
        while len(self.buffer) < size:
            self._fill(what)
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found

    def read_head(self) -> bytes:
        head = self.read_until(b"\r\n\r\n", "a request head")
        self.heads.append(head)
        return head

    def read_body(self) -> bytes:
        """The body of the last request head, framed as that head says."""
        if not self.heads:
            raise PeerFailure("script error: body() before any head()")
        fields: dict[bytes, bytes] = {}
        for line in self.heads[-1].split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            fields[name.strip().lower()] = value.strip().lower()
        if fields.get(b"transfer-encoding") == b"chunked":
            data = self._read_chunked()
        else:
            data = self.read_exact(int(fields.get(b"content-length", b"0")), "the body")
        self.bodies.append(data)
        return data

    def _read_chunked(self) -> bytes:
        pieces: list[bytes] = []
        while True:
            size = int(self.read_until(b"\r\n", "a chunk size").split(b";")[0], 16)
            if size == 0:
                # Trailer fields, if any, run up to an empty line.
                while self.read_until(b"\r\n", "the end of the trailers"):
                    pass
                return b"".join(pieces)
            pieces.append(self.read_exact(size, "a chunk"))
            if self.read_exact(2, "a chunk's CRLF") != b"\r\n":
                raise PeerFailure("the client sent a chunk longer than its size")

    def read_some(self) -> bytes:
        """What is buffered, else one recv (b"" at EOF)."""
        data = self.buffer or self._recv()
        self.buffer = b""
        return data

    def drain(self) -> None:
        """Read until the client closes; fail if it does not within the timeout."""
        deadline = time.monotonic() + self.timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise PeerFailure(f"the client did not close within {self.timeout} s")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return  # reset: closed with bytes unread, still a close
            if not data:
                return
            # Counted, not kept: an upload the client gave up on can be large.
            self.drained += len(data)

    # -- sending and closing ------------------------------------------------------

    def send(self, data: bytes) -> None:
        if self.feed == "whole":
            self.sock.sendall(data)
        else:
            for i in range(len(data)):
                self.sock.sendall(data[i:i + 1])

    def shutdown_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)

    def reset(self) -> None:
        # A zero linger makes close() send an RST instead of a FIN.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close()

    def close(self) -> None:
        self.closed = True
        self.sock.close()


Step = Callable[[PeerConn], None]


class TcpPeer:
    """Serves ``scripts`` (lists of steps), one per accepted connection, in order."""

    def __init__(self, *scripts: Sequence[Step], feed: str = "whole",
                 timeout: float = STEP_TIMEOUT) -> None:
        if not scripts:
            raise ValueError("a TcpPeer needs at least one script")
        if feed not in FEEDS:
            raise ValueError(f"feed must be one of {FEEDS}, not {feed!r}")
        self.scripts = [list(script) for script in scripts]
        self.feed = feed
        self.timeout = timeout
        self.conns: list[PeerConn] = []
        self.error: BaseException | None = None
        self._reported = False
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        # Room for all of them: the client may connect again before the peer
        # is done with the previous connection.
        self.listener.listen(len(self.scripts))
        self.listener.settimeout(timeout)
        self.port: int = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, name=f"tcppeer:{self.port}",
                                       daemon=True)
        self.thread.start()

    @property
    def connections(self) -> int:
        """How many connections were accepted so far."""
        return len(self.conns)

    @property
    def heads(self) -> list[bytes]:
        """The request heads read, all connections together, in order."""
        return [h for conn in self.conns for h in conn.heads]

    @property
    def bodies(self) -> list[bytes]:
        return [b for conn in self.conns for b in conn.bodies]

    def _run(self) -> None:
        try:
            for number, script in enumerate(self.scripts, 1):
                try:
                    sock, _ = self.listener.accept()
                except socket.timeout:
                    raise PeerFailure(f"connection {number} of {len(self.scripts)} never "
                                      f"came (waited {self.timeout} s)") from None
                if number == len(self.scripts):
                    # One more connection than scripted is refused, not left hanging.
                    self.listener.close()
                self._serve(sock, script)
        except BaseException as exc:
            self.error = exc
        finally:
            self.listener.close()

    def _serve(self, sock: socket.socket, script: list[Step]) -> None:
        sock.settimeout(self.timeout)
        if self.feed == "bytewise":
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = PeerConn(sock, self.feed, self.timeout)
        self.conns.append(conn)
        try:
            for step in script:
                step(conn)
            if not conn.closed:
                conn.drain()
        finally:
            conn.close()

    def join(self, timeout: float = JOIN_TIMEOUT) -> None:
        """Wait for the scripts to end; raise the peer's failure (once)."""
        self.thread.join(timeout)
        if self.thread.is_alive():
            # The listener is left to the thread: closing a socket another
            # thread waits on could hand its descriptor to someone else.
            raise PeerFailure(f"the peer thread is stuck (still running after {timeout} s)")
        if self.error is not None and not self._reported:
            self._reported = True
            raise PeerFailure(f"the peer failed: {self.error!r}") from self.error


class Peers:
    """``peers(script, ...)`` starts a :class:`TcpPeer` with the test's feed;
    :meth:`join_all`, at the test's end, joins every one of them."""

    def __init__(self, feed: str) -> None:
        self.feed = feed
        self.started: list[TcpPeer] = []

    def __call__(self, *scripts: Sequence[Step], timeout: float = STEP_TIMEOUT) -> TcpPeer:
        peer = TcpPeer(*scripts, feed=self.feed, timeout=timeout)
        self.started.append(peer)
        return peer

    def join_all(self) -> None:
        # Join them all before raising: a peer left running would outlive the test.
        failures: list[AssertionError] = []
        for peer in self.started:
            try:
                peer.join()
            except AssertionError as exc:
                failures.append(exc)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise PeerFailure("; ".join(str(f) for f in failures)) from failures[0]

    @classmethod
    def fixture(cls, feed: str) -> Iterator[Peers]:
        """The body of a ``peers`` fixture: ``yield from Peers.fixture(feed)``."""
        peers = cls(feed)
        yield peers
        peers.join_all()


# -- steps --------------------------------------------------------------------------


def head() -> Step:
    """Read one request head (kept in ``heads``)."""
    def step(c: PeerConn) -> None:
        c.read_head()

    return step


def body() -> Step:
    """Read the body of the last head (kept in ``bodies``)."""
    def step(c: PeerConn) -> None:
        c.read_body()

    return step


def reply(data: bytes, *, tolerate_close: bool = False) -> Step:
    """Send ``data``; with ``tolerate_close`` the client may hang up midway
    (it gives up as soon as it has seen enough)."""

    def step(c: PeerConn) -> None:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            if not tolerate_close:
                raise
            c.close()

    return step


def fin() -> Step:
    """Close the sending side; the peer still reads until the client closes."""
    def step(c: PeerConn) -> None:
        c.shutdown_write()

    return step


def delivered() -> Step:
    """Wait until the client's kernel has acknowledged everything sent so
    far: a close with unread data sends an RST and drops what is still
    queued, so a test that wants its reply read must wait for this."""
    def step(c: PeerConn) -> None:
        if c.closed:
            return  # (the client hung up: nothing more can be delivered)
        deadline = time.monotonic() + c.timeout
        # TIOCOUTQ (SIOCOUTQ for TCP): bytes sent but not yet acknowledged.
        while struct.unpack("i", fcntl.ioctl(c.sock, termios.TIOCOUTQ, b"\0" * 4))[0]:
            if time.monotonic() >= deadline:
                raise PeerFailure("the client never acknowledged what the peer sent")
            time.sleep(0.005)

    return step


def hang_up() -> Step:
    """Close the connection now, without waiting for the client."""
    def step(c: PeerConn) -> None:
        c.close()

    return step


def reset() -> Step:
    def step(c: PeerConn) -> None:
        c.reset()

    return step


def wait(event: threading.Event) -> Step:
    """Block the script until the test sets ``event``."""
    def step(c: PeerConn) -> None:
        if not event.wait(c.timeout):
            raise PeerFailure("timed out waiting for the test")

    return step


def signal(event: threading.Event) -> Step:
    """Tell the test the script got here."""
    def step(_c: PeerConn) -> None:
        event.set()

    return step


def read_some() -> Step:
    """Read whatever comes next (a TLS ClientHello, part of an upload...)."""
    def step(c: PeerConn) -> None:
        if not c.read_some():
            raise PeerFailure("EOF where data was expected")

    return step


def relay(host: str, port: int) -> Step:
    """From now on, pass bytes both ways between the client and host:port,
    until one side closes."""

    def step(c: PeerConn) -> None:
        upstream = socket.create_connection((host, port), timeout=c.timeout)
        with upstream, selectors.DefaultSelector() as selector:
            if c.buffer:
                upstream.sendall(c.buffer)
                c.buffer = b""
            selector.register(c.sock, selectors.EVENT_READ, (c.sock, upstream))
            selector.register(upstream, selectors.EVENT_READ, (upstream, c.sock))
            deadline = time.monotonic() + 2 * c.timeout
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise PeerFailure("the relay ran out of time")
                for key, _ in selector.select(remaining):
                    source, target = key.data
                    try:
                        data = source.recv(65536)
                        if not data:
                            return
                        target.sendall(data)
                    except (ConnectionResetError, BrokenPipeError):
                        # A side closed with bytes unread (the client after
                        # its GOAWAY, say): the kernel reset the connection.
                        return

    return step


def h1(peer: TcpPeer, timeout: Any = 5) -> HTTP11Connection:
    """A hyper HTTP/1.1 connection to ``peer``."""
    from hyper import HTTP11Connection

    return HTTP11Connection("127.0.0.1", peer.port, timeout=timeout)
