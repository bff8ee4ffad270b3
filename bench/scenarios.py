"""What the benchmark measures: the scenarios, their clients and the targets.

Each scenario names the clients it compares (by the names of ``CLIENTS``),
the worker's scenario kind, its counts (full run and ``--quick``) and the
targets of issue 9 as ratios between two clients of the same run.
"""

from __future__ import annotations

import dataclasses
from typing import Any

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Client:
    name: str
    worker: str  # the worker's client class, or "h2load"
    venv: str = "main"  # "main" (.venv) or "niquests" (.bench-venv-niquests)
    h2mod: str = "h2"
    label: str = ""


CLIENTS = {
    c.name: c
    for c in [
        Client("floor", "floor", label="floor: h2 on a TLS socket"),
        Client("hyper", "hyper", label="hyper HTTP20Connection"),
        Client("httpx", "httpx", label="httpx http2=True (sync, one at a time)"),
        Client("httpx-async", "httpx-async", label="httpx http2=True (async, tasks)"),
        Client("urllib3", "urllib3", label="urllib3 (HTTP/1.1)"),
        Client("h2load", "h2load", label="h2load (C, nghttp2)"),
        Client("requests+hyper", "requests+hyper", label="requests + HTTP20Adapter"),
        Client("requests", "requests", label="requests + HTTPAdapter (HTTP/1.1)"),
        Client("niquests", "niquests", venv="niquests", label="niquests (h2)"),
        Client(
            "niquests-mux",
            "niquests-multiplexed",
            venv="niquests",
            label="niquests multiplexed=True",
        ),
        Client("floor+jh2", "floor", venv="niquests", h2mod="jh2", label="floor on jh2"),
        Client(
            "hyper+jh2",
            "hyper",
            venv="niquests",
            h2mod="jh2",
            label="hyper HTTP20Connection on jh2",
        ),
    ]
}


@dataclasses.dataclass(frozen=True)
class Target:
    client: str
    baseline: str | tuple[str, ...]  # a tuple: the best of these
    ratio: float

    def describe(self) -> str:
        base = self.baseline if isinstance(self.baseline, str) else " / ".join(self.baseline)
        return f"{self.client} >= {self.ratio:g}x {base}"


@dataclasses.dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    kind: str  # the worker's scenario
    clients: tuple[str, ...]
    full: dict[str, Any]
    quick: dict[str, Any]
    targets: tuple[Target, ...] = ()
    server: str = "nginx"
    unit: str = "req/s"  # or "MB/s"
    optional: tuple[str, ...] = ()  # clients run only with --jh2

    def params(self, quick: bool, scale: float = 1.0) -> dict[str, Any]:
        """The counts of a run; ``scale`` multiplies the request count and
        the transfer size (not the concurrency)."""
        params = dict(self.quick if quick else self.full)
        for name in ("count", "size"):
            if name in params:
                params[name] = max(1, int(params[name] * scale))
        return params


JH2 = ("floor+jh2", "hyper+jh2")

SCENARIOS = [
    Scenario(
        "a",
        "5,000 GETs of 1 KiB, 100 in flight on one connection",
        "multiplex",
        ("floor", "hyper", "httpx-async", "httpx", "niquests-mux", "h2load", *JH2),
        {"count": 5000, "in_flight": 100},
        {"count": 200, "in_flight": 20},
        (Target("hyper", "floor", 0.8), Target("hyper", ("httpx-async", "httpx"), 3.0)),
        optional=JH2,
    ),
    Scenario(
        "b",
        "1,000 sequential GETs of 1 KiB",
        "sequential",
        ("floor", "hyper", "httpx", "urllib3", "h2load", *JH2),
        {"count": 1000},
        {"count": 50},
        (Target("hyper", "floor", 0.8),),
        optional=JH2,
    ),
    Scenario(
        "c",
        "1 GiB download in 1 MiB reads",
        "download",
        ("floor", "hyper", "httpx", "urllib3", *JH2),
        {"size": 1024 * MIB, "read_size": MIB},
        {"size": 8 * MIB, "read_size": MIB},
        (Target("hyper", "floor", 2.0),),
        unit="MB/s",
        optional=JH2,
    ),
    Scenario(
        "d",
        "10 MiB uploads on one connection",
        "upload",
        ("floor", "hyper", "httpx"),
        {"count": 20, "size": 10 * MIB},
        {"count": 2, "size": MIB},
        (Target("hyper", "httpx", 1.2),),
        unit="MB/s",
    ),
    Scenario(
        "e",
        "requests: 64 threads, 3,000 GETs of a 10 ms endpoint",
        "threads",
        ("requests+hyper", "requests", "niquests"),
        {"count": 3000, "threads": 64},
        {"count": 64, "threads": 8},
        (Target("requests+hyper", "requests", 1.2), Target("requests+hyper", "niquests", 1.0)),
    ),
    Scenario(
        "f",
        "requests: 1,000 sequential GETs of 1 KiB",
        "sequential",
        ("requests+hyper", "requests", "niquests"),
        {"count": 1000},
        {"count": 50},
        (Target("requests+hyper", "requests", 1.2), Target("requests+hyper", "niquests", 1.0)),
    ),
    Scenario(
        "g",
        "requests: 256 MiB download, iter_content(65536)",
        "download",
        ("requests+hyper", "requests", "niquests"),
        {"size": 256 * MIB, "read_size": 65536},
        {"size": 8 * MIB, "read_size": 65536},
        (Target("requests+hyper", "requests", 0.8),),
        unit="MB/s",
    ),
    Scenario(
        "h",
        "requests: 10 MiB uploads",
        "upload",
        ("requests+hyper", "requests", "niquests"),
        {"count": 20, "size": 10 * MIB},
        {"count": 2, "size": MIB},
        (Target("requests+hyper", "requests", 1.0), Target("requests+hyper", "niquests", 1.0)),
        unit="MB/s",
    ),
    Scenario(
        "a'",
        "(a) against nghttpd",
        "multiplex",
        ("floor", "hyper", "h2load"),
        {"count": 5000, "in_flight": 100},
        {"count": 200, "in_flight": 20},
        (Target("hyper", "floor", 0.8),),
        server="nghttpd",
    ),
    Scenario(
        "b'",
        "(b) against nghttpd",
        "sequential",
        ("floor", "hyper", "h2load"),
        {"count": 1000},
        {"count": 50},
        (Target("hyper", "floor", 0.8),),
        server="nghttpd",
    ),
]

#: Peak RSS growth allowed to hyper in (c).
RSS_LIMIT = 64 * MIB
