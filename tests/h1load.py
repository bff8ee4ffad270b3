"""Many threads sharing one connection, each request checked against its answer.

Used by tests/test_http11_threads.py (modest counts) and
scripts/stress_http11.py (large ones). Every request asks for
``/token/{id}`` with an id unique to it; the app answers the id back in the
body and in ``x-token``, so a response handed to the wrong request shows up
as a mismatch.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any, Protocol

from hyper.exceptions import HyperError


class Shared(Protocol):
    def request(self, method: str, url: str, *, timeout: Any = None) -> Any: ...

    def get_response(self) -> Any: ...


@dataclasses.dataclass
class LoadResult:
    sent: int = 0
    matched: int = 0
    #: Answers that belonged to another request: (asked, got).
    mismatched: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    #: Failures by type and message (HyperError or not).
    errors: collections.Counter[str] = dataclasses.field(default_factory=collections.Counter)
    #: Threads still running when the time bound ran out.
    stuck: int = 0
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        return (self.matched == self.sent and not self.mismatched and not self.errors
                and not self.stuck)


def run_shared(conn: Shared, threads: int, per_thread: int, time_bound: float,
               tag: str = "r", timeout: float = 30.0) -> LoadResult:
    """``threads`` threads each send ``per_thread`` requests on ``conn``."""
    result = LoadResult()
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=time_bound)
    stop_at = time.monotonic() + time_bound

    def one(token: str) -> None:
        conn.request("GET", f"/token/{token}", timeout=timeout)
        resp = conn.get_response()
        body = resp.read().decode("latin-1")
        echoed = b"".join(resp.headers.get(b"x-token", [])).decode("latin-1")
        with lock:
            if body == token == echoed:
                result.matched += 1
            else:
                result.mismatched.append((token, f"{body}|{echoed}"))

    def worker(index: int) -> None:
        barrier.wait()
        for number in range(per_thread):
            if time.monotonic() > stop_at:
                return
            token = f"{tag}-{index}-{number}"
            with lock:
                result.sent += 1
            try:
                one(token)
            except Exception as exc:  # counted, not raised: the totals are the result
                kind = "hyper" if isinstance(exc, HyperError) else "NOT-HYPER"
                with lock:
                    result.errors[f"{kind} {type(exc).__name__}: {exc}"[:160]] += 1

    started = time.monotonic()
    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(max(0.0, stop_at + timeout - time.monotonic()))
    result.stuck = sum(thread.is_alive() for thread in workers)
    result.seconds = time.monotonic() - started
    return result
