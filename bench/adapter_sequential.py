"""Per-request cost through requests: HTTPAdapter against HTTP20Adapter.

Sequential small GETs through one requests Session, against Debian's nginx
on loopback (TLS; HTTP/2 and HTTP/1.1 by ALPN), median of a few rounds.
Bounded: ``--requests`` per round, ``--rounds`` rounds. Run it with::

    .venv/bin/python bench/adapter_sequential.py
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import requests  # noqa: E402
from requests.adapters import BaseAdapter, HTTPAdapter  # noqa: E402

from hyper.contrib import HTTP20Adapter  # noqa: E402
from servers import Launcher, make_certs  # noqa: E402

SMALL = "/small.txt"

ADAPTERS: dict[str, type[BaseAdapter]] = {
    "HTTPAdapter (HTTP/1.1)": HTTPAdapter,
    "HTTP20Adapter (HTTP/2)": HTTP20Adapter,
}


def measure(adapter: BaseAdapter, url: str, ca: str, count: int) -> tuple[float, float]:
    """(requests per second, client CPU microseconds per request). The CPU
    time is the client's own cost, which the machine's load disturbs less."""
    with requests.Session() as session:
        session.mount("https://", adapter)
        session.verify = ca
        session.trust_env = False
        assert session.get(url).ok  # connect outside the measurement
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            assert session.get(url).content
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        return count / wall, cpu / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=1000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median is shown)")
    args = parser.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    with tempfile.TemporaryDirectory(prefix="hyper-bench-") as tmp:
        (Path(tmp) / "certs").mkdir()
        certs = make_certs(Path(tmp) / "certs")
        launcher = Launcher(Path(tmp) / "servers")
        try:
            server = launcher.nginx(nginx, certs)
            for name, factory in ADAPTERS.items():
                results = [measure(factory(), server.url + SMALL, str(certs.ca_path),
                                   args.requests) for _ in range(args.rounds)]
                rates = [r for r, _ in results]
                cpu = statistics.median(c for _, c in results)
                print(f"{name:28} {statistics.median(rates):8.0f} req/s, {cpu:6.0f} us CPU/req "
                      f"(rounds: {', '.join(f'{r:.0f}' for r in rates)})")
        finally:
            launcher.stop_all()


if __name__ == "__main__":
    main()
