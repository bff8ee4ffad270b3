"""One check for every fault test: no thread and no socket outlives the test.

A thread or a socket left behind by a failed exchange is a leak that a
long-running program pays for on every fault: threads pile up, file
descriptors run out. The check counts the threads of the process and its
socket file descriptors (``/proc/self/fd`` entries that are ``socket:[...]``)
before the test and after its fixtures are torn down (the scripted peers are
joined there), waiting a bounded time for what is being closed to go.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

#: How long teardown waits for threads to end and sockets to close.
SETTLE_TIMEOUT = 5.0


def socket_fds() -> set[int]:
    """The file descriptors of this process that are sockets."""
    found = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # closed while listing
            continue
        if target.startswith("socket:"):
            found.add(int(name))
    return found


@dataclass
class Snapshot:
    threads: set[threading.Thread]
    sockets: set[int]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(set(threading.enumerate()), socket_fds())

    def leaks(self) -> tuple[list[str], list[str]]:
        """Threads and sockets alive now that were not at the snapshot."""
        threads = sorted(t.name for t in threading.enumerate() if t not in self.threads)
        sockets = sorted(
            f"fd {fd}: {_describe(fd)}" for fd in socket_fds() - self.sockets
        )
        return threads, sockets


def _describe(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return "closed"


def assert_no_leaks(before: Snapshot, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait (bounded) until nothing is left over since ``before``; fail if something is."""
    deadline = time.monotonic() + timeout
    while True:
        threads, sockets = before.leaks()
        if not threads and not sockets:
            return
        if time.monotonic() >= deadline:
            raise AssertionError(f"leaked threads {threads} and sockets {sockets}")
        time.sleep(0.02)
