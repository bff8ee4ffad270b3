"""Running test work on several threads at once, bounded in time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_threads(count: int, work: Callable[[int], None], timeout: float = 60.0) -> None:
    """Run ``work(i)`` in ``count`` threads started together; re-raise the
    first failure; every thread must end within ``timeout``."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(count, timeout=timeout)

    def body(i: int) -> None:
        try:
            barrier.wait()
            work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not [t for t in threads if t.is_alive()], "threads still running after the timeout"
    if errors:
        raise errors[0]
