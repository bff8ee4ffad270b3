"""The floor: a minimal HTTP/2 client driving h2 directly over a TLS socket.

One thread, no locks, no response objects, no buffering beyond what h2
needs: what is left is the cost of TLS, h2's framing and HPACK, and the
socket calls. hyper's figures divided by these say what hyper adds on top of
h2. ``h2mod`` picks the protocol library: ``h2``, or its native fork ``jh2``
(same API) to see what an accelerated h2 would give.

Imports only the standard library at the top: it also runs in the niquests
virtual environment, where jh2 lives.
"""

from __future__ import annotations

import hashlib
import importlib
import socket
import ssl
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

READ_SIZE = 65536


class Floor:
    def __init__(self, host: str, port: int, ca: str, h2mod: str = "h2") -> None:
        connection = importlib.import_module(f"{h2mod}.connection")
        config = importlib.import_module(f"{h2mod}.config")
        events = importlib.import_module(f"{h2mod}.events")
        self.ev_data = events.DataReceived
        self.ev_headers = events.ResponseReceived
        self.ev_ended = events.StreamEnded
        self.ev_reset = events.StreamReset
        self.ev_window = events.WindowUpdated
        self.ev_terminated = events.ConnectionTerminated
        context = ssl.create_default_context(cafile=ca)
        context.set_alpn_protocols(["h2"])
        raw = socket.create_connection((host, port), timeout=30)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname=host)
        if self.sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("the server did not choose h2")
        self.conn = connection.H2Connection(
            config=config.H2Configuration(client_side=True, header_encoding=None)
        )
        self.conn.initiate_connection()
        self.authority = f"{host}:{port}".encode()
        self.flush()

    def flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def close(self) -> None:
        self.conn.close_connection()
        self.flush()
        self.sock.close()

    def headers(
        self, method: bytes, path: str, extra: tuple[tuple[bytes, bytes], ...] = ()
    ) -> list[tuple[bytes, bytes]]:
        return [
            (b":method", method),
            (b":scheme", b"https"),
            (b":authority", self.authority),
            (b":path", path.encode()),
            *extra,
        ]

    def start_get(self, path: str) -> int:
        stream_id: int = self.conn.get_next_available_stream_id()
        self.conn.send_headers(stream_id, self.headers(b"GET", path), end_stream=True)
        return stream_id

    def events(self) -> Iterator[Any]:
        """Read once from the socket, yield h2's events, send what h2 wants sent."""
        data = self.sock.recv(READ_SIZE)
        if not data:
            raise RuntimeError("the server closed the connection")
        yield from self.conn.receive_data(data)
        self.flush()

    def run_gets(
        self, path: str, count: int, in_flight: int, check: Callable[[int, bytes], None]
    ) -> int:
        """``count`` GETs of ``path``, ``in_flight`` at a time; returns how many."""
        bodies: dict[int, list[bytes]] = {}
        status: dict[int, int] = {}
        started = done = 0
        while started < min(in_flight, count):
            bodies[self.start_get(path)] = []
            started += 1
        self.flush()
        while done < count:
            for event in self.events():
                if isinstance(event, self.ev_headers):
                    status[event.stream_id] = int(dict(event.headers)[b":status"])
                elif isinstance(event, self.ev_data):
                    bodies[event.stream_id].append(event.data)
                    self.conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, self.ev_ended):
                    check(status.pop(event.stream_id), b"".join(bodies.pop(event.stream_id)))
                    done += 1
                    if started < count:
                        bodies[self.start_get(path)] = []
                        started += 1
                elif isinstance(event, (self.ev_reset, self.ev_terminated)):
                    raise RuntimeError(f"h2 error: {event!r}")
            self.flush()
        return done

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        """One GET, the body consumed in ``read_size`` pieces (hashed, not kept)."""
        stream_id = self.start_get(path)
        self.flush()
        digest = hashlib.sha256()
        pending = bytearray()
        total = 0
        code = 0
        ended = False
        while not ended:
            for event in self.events():
                if isinstance(event, self.ev_headers):
                    code = int(dict(event.headers)[b":status"])
                elif isinstance(event, self.ev_data):
                    pending += event.data
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, self.ev_ended):
                    ended = True
                elif isinstance(event, (self.ev_reset, self.ev_terminated)):
                    raise RuntimeError(f"h2 error: {event!r}")
            while len(pending) >= read_size or (ended and pending):
                piece = bytes(pending[:read_size])
                del pending[:read_size]
                digest.update(piece)
                total += len(piece)
        return code, total, digest.hexdigest()

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        """One POST of ``body``, sent as flow control allows."""
        stream_id: int = self.conn.get_next_available_stream_id()
        extra = ((b"content-length", str(len(body)).encode()),)
        self.conn.send_headers(stream_id, self.headers(b"POST", path, extra))
        view = memoryview(body)
        sent = 0
        code = 0
        answer: deque[bytes] = deque()
        ended = False
        while not ended:
            while sent < len(body):
                room = min(
                    self.conn.local_flow_control_window(stream_id),
                    self.conn.max_outbound_frame_size,
                    len(body) - sent,
                )
                if room <= 0:
                    break
                self.conn.send_data(
                    stream_id, bytes(view[sent : sent + room]), end_stream=sent + room == len(body)
                )
                sent += room
            self.flush()
            for event in self.events():
                if isinstance(event, self.ev_headers):
                    code = int(dict(event.headers)[b":status"])
                elif isinstance(event, self.ev_data):
                    answer.append(event.data)
                    self.conn.acknowledge_received_data(event.flow_controlled_length, stream_id)
                elif isinstance(event, self.ev_ended):
                    ended = True
                elif isinstance(event, (self.ev_reset, self.ev_terminated)):
                    raise RuntimeError(f"h2 error: {event!r}")
        return code, b"".join(answer)
