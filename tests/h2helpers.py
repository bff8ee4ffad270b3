"""Helpers shared by the tests that drive HTTP20Connection against the
scripted h2 peer (tests/h2peer.py) from several threads."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

from hyperframe.frame import DataFrame

from h2peer import Harness, call, close, expect_request, handshake, respond, wait_event


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``predicate`` until it holds; False after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def signal(event: threading.Event) -> Any:
    """A step that tells the test the peer got this far."""
    return call(lambda _session: event.set())


class Worker(threading.Thread):
    """Runs ``fn`` in a thread and keeps its result or exception."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.fn = fn
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.fn()
        except BaseException as exc:
            self.error = exc

    def finish(self, timeout: float = 20.0) -> Any:
        self.join(timeout)
        assert not self.is_alive(), "the worker thread is stuck"
        return self.result


def data_of(peer: Any, stream_id: int) -> list[DataFrame]:
    frames: list[DataFrame] = peer.frames_of(DataFrame, stream_id)
    return frames


def read_then_reset(h: Harness) -> tuple[Any, Any]:
    """A connection that read one response, then was reset by the server
    (it waits for the test before the RST, so that no byte is lost)."""
    done = threading.Event()
    peer = h.start([handshake(), expect_request("r"), respond("r", b"x"), wait_event(done),
                    close("rst")])
    conn = h.client(peer)
    assert conn.get_response(conn.request("GET", "/")).read() == b"x"
    done.set()
    peer.join()
    return peer, conn
