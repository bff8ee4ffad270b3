"""What a test module leaves behind: open sockets and live threads.

``Snapshot.take()`` records the sockets this process holds (the entries of
/proc/self/fd pointing to ``socket:[INODE]``, named by their addresses from
/proc/net) and its live threads; ``Snapshot.leaks_since(before)`` waits,
bounded, for the extra ones to go and describes those that stay.

As a pytest plugin (conftest loads it), its autouse ``check_leaks`` fixture
runs it around every test module: a leak is a failed teardown of the
module's last test, naming the sockets (by address) and threads (by name).
"""

from __future__ import annotations

import dataclasses
import gc
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Longest wait for sockets to close and threads to finish after a module.
LEAK_WAIT = 5.0
POLL_INTERVAL = 0.05
#: Most sockets a leak report lists one by one.
MAX_LISTED = 10
FD_DIR = Path("/proc/self/fd")
NET_DIR = Path("/proc/self/net")


class LeakError(Exception):
    """A test module left sockets open or threads running."""


@dataclasses.dataclass(frozen=True)
class Snapshot:
    sockets: frozenset[int]  # inodes
    threads: frozenset[threading.Thread]

    @classmethod
    def take(cls) -> Snapshot:
        return cls(frozenset(socket_inodes()), frozenset(threading.enumerate()))

    @staticmethod
    def supported() -> bool:
        return FD_DIR.is_dir()

    def extra(self, before: Snapshot) -> tuple[set[int], set[threading.Thread]]:
        threads = {t for t in self.threads - before.threads if t.is_alive()}
        return set(self.sockets - before.sockets), threads

    @classmethod
    def leaks_since(cls, before: Snapshot, wait: float = LEAK_WAIT) -> str | None:
        """None if the sockets and threads are back to ``before`` within
        ``wait`` seconds; else a description of what is left."""
        # Objects only the garbage collector still holds close their
        # sockets when collected: that is not a leak of the module's.
        gc.collect()
        deadline = time.monotonic() + wait
        while True:
            sockets, threads = cls.take().extra(before)
            if not (sockets or threads) or time.monotonic() >= deadline:
                break
            time.sleep(POLL_INTERVAL)
        if not (sockets or threads):
            return None
        names = socket_names()
        lines = []
        if sockets:
            lines.append(f"{len(sockets)} socket(s) still open:")
            shown = sorted(sockets)[:MAX_LISTED]
            lines += [f"  {names.get(inode, f'socket inode {inode}')}" for inode in shown]
            if len(sockets) > MAX_LISTED:
                lines.append(f"  ... and {len(sockets) - MAX_LISTED} more")
        if threads:
            lines.append(f"{len(threads)} thread(s) still running:")
            listed = sorted(threads, key=_name)[:MAX_LISTED]
            lines += [f"  {t.name} (daemon={t.daemon})" for t in listed]
            if len(threads) > MAX_LISTED:
                lines.append(f"  ... and {len(threads) - MAX_LISTED} more")
        return "\n".join(lines)


def _name(thread: threading.Thread) -> str:
    return thread.name


def socket_inodes() -> set[int]:
    inodes = set()
    for entry in FD_DIR.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:  # closed since the listing
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[len("socket:[") : -1]))
    return inodes


# /proc/net/tcp "st" column (include/net/tcp_states.h).
_TCP_STATES = {
    "01": "ESTABLISHED", "02": "SYN_SENT", "03": "SYN_RECV", "04": "FIN_WAIT1",
    "05": "FIN_WAIT2", "06": "TIME_WAIT", "07": "CLOSE", "08": "CLOSE_WAIT",
    "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING",
}  # fmt: skip


def socket_names() -> dict[int, str]:
    """inode -> "tcp 127.0.0.1:PORT -> 127.0.0.1:PORT ESTABLISHED" (or unix)."""
    names: dict[int, str] = {}
    for proto, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        for fields in _table(proto):
            local, remote = _address(fields[1], family), _address(fields[2], family)
            state = _TCP_STATES.get(fields[3], fields[3])
            names[int(fields[9])] = f"{proto} {local} -> {remote} {state}"
    for fields in _table("unix"):
        if len(fields) >= 7:
            path = fields[7] if len(fields) > 7 else "(unnamed)"
            names[int(fields[6])] = f"unix {path}"
    return names


def _table(name: str) -> list[list[str]]:
    try:
        lines = (NET_DIR / name).read_text().splitlines()[1:]
    except OSError:
        return []
    return [line.split() for line in lines]


def _address(text: str, family: int) -> str:
    host_hex, port_hex = text.split(":")
    raw = bytes.fromhex(host_hex)
    # The kernel prints each 32-bit word in host (little-endian) order.
    raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return f"{socket.inet_ntop(family, raw)}:{int(port_hex, 16)}"


# --------------------------------------------------------------------------
# The pytest plugin

#: Modules known to leak, and why: their leak is listed at the end of the run
#: instead of failing it. Remove a module once its cause is fixed.
KNOWN_LEAKS: dict[str, str] = {}
_SEEN_KNOWN = pytest.StashKey[list[str]]()


@pytest.fixture(scope="module", autouse=True)
def check_leaks(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test module gives back the sockets and threads it opened: after
    its last test, once collected garbage is gone and at most ``LEAK_WAIT``
    seconds later, the process holds the sockets and threads it held before
    the module. Session-scoped servers run in other processes and hold
    neither; a session fixture that did would be charged to the module that
    first used it."""
    if not Snapshot.supported():
        yield
        return
    before = Snapshot.take()
    yield
    leaks = Snapshot.leaks_since(before)
    if leaks is None:
        return
    name = request.module.__name__
    text = f"{name} leaves behind what it opened:\n{leaks}"
    if name in KNOWN_LEAKS:
        request.config.stash.setdefault(_SEEN_KNOWN, []).append(
            f"{text}\n(known: {KNOWN_LEAKS[name]})"
        )
        return
    raise LeakError(text)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    seen = terminalreporter.config.stash.get(_SEEN_KNOWN, [])
    if seen:
        terminalreporter.section("known leaks (tests/leaks.py KNOWN_LEAKS)")
        for text in seen:
            terminalreporter.write_line(text)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    excinfo = call.excinfo
    if call.when == "teardown" and excinfo is not None and excinfo.errisinstance(LeakError):
        # A module's leak is no part of its last test's expected failure: an
        # xfail mark must not swallow it.
        report.outcome = "failed"
        report.longrepr = str(excinfo.value)
        if hasattr(report, "wasxfail"):
            del report.wasxfail
    return report
