"""hyper's HTTP/2 receive path on loopback nginx: a large download through
HTTP20Connection (MB/s), sequential small GETs (req/s), and the memory of
many responses held open through requests (tests/held_responses.py, in a
child process). Every scenario is bounded in count. Run it with::

    .venv/bin/python bench/h2_flow.py --rounds 5 --mib 256

Prints the median of the rounds, and every round.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import hyper  # noqa: E402
import hyper.tls  # noqa: E402
from servers import Launcher, make_certs  # noqa: E402

SMALL = "/small.txt"
BIG = "/bench.bin"
HELD = "/held.bin"


def connect(url: str, ca: str) -> hyper.HTTP20Connection:
    host, port = url.split("//")[1].split(":")
    return hyper.HTTP20Connection(host, int(port), secure=True,
                                  ssl_context=hyper.tls.init_context(cert_path=ca), timeout=30)


# Each scenario gives two rates: per second of wall time, and per second of
# the client's CPU time. On a shared, loaded machine the second one is the
# steadier measure of the client's own cost.


def download(url: str, ca: str, size: int) -> tuple[float, float]:
    with connect(url, ca) as conn:
        conn.get_response(conn.request("GET", SMALL)).read()
        started, cpu = time.perf_counter(), time.process_time()
        resp = conn.get_response(conn.request("GET", BIG))
        total = sum(len(chunk) for chunk in resp.read_chunked())
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if total != size:
        raise RuntimeError(f"downloaded {total} bytes, expected {size}")
    return size / elapsed / 1e6, size / cpu / 1e6


def sequential(url: str, ca: str, count: int) -> tuple[float, float]:
    with connect(url, ca) as conn:
        conn.get_response(conn.request("GET", SMALL)).read()
        started, cpu = time.perf_counter(), time.process_time()
        for _ in range(count):
            conn.get_response(conn.request("GET", SMALL)).read()
        return count / (time.perf_counter() - started), count / (time.process_time() - cpu)


def report(what: str, unit: str, rounds: list[tuple[float, float]]) -> None:
    wall = [r[0] for r in rounds]
    cpu = [r[1] for r in rounds]
    print(f"{what}: median {statistics.median(wall):.0f} {unit}/s wall "
          f"(rounds: {', '.join(f'{r:.0f}' for r in wall)}); "
          f"median {statistics.median(cpu):.0f} {unit} per client CPU second "
          f"(rounds: {', '.join(f'{r:.0f}' for r in cpu)})")


def held(url: str, ca: str, count: int) -> dict[str, int]:
    child = subprocess.run(
        [sys.executable, str(HERE.parent / "tests" / "held_responses.py"), url, ca, HELD,
         str(count)], capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, int] = json.loads(child.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=256, help="download size in MiB")
    parser.add_argument("--requests", type=int, default=500,
                        help="sequential GETs per round (nginx allows 1000 per connection)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (median is shown)")
    parser.add_argument("--held", type=int, default=300, help="responses held open")
    parser.add_argument("--held-mib", type=int, default=4, help="size of each held file")
    parser.add_argument("--only", choices=["download", "sequential", "held"], action="append")
    args = parser.parse_args()
    only = set(args.only or ["download", "sequential", "held"])
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    size = args.mib * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="hyper-bench-") as tmp:
        (Path(tmp) / "certs").mkdir()
        certs = make_certs(Path(tmp) / "certs")
        launcher = Launcher(Path(tmp) / "servers")
        try:
            server = launcher.nginx(nginx, certs)
            with (Path(server.htdocs) / BIG.lstrip("/")).open("wb") as f:
                f.truncate(size)
            (Path(server.htdocs) / HELD.lstrip("/")).write_bytes(
                bytes(range(256)) * (args.held_mib * 4096))
            ca = str(certs.ca_path)
            if "download" in only:
                report(f"download {args.mib} MiB", "MB",
                       [download(server.url, ca, size) for _ in range(args.rounds)])
            if "sequential" in only:
                report(f"sequential {args.requests} GETs", "req",
                       [sequential(server.url, ca, args.requests) for _ in range(args.rounds)])
            if "held" in only:
                result = held(server.url, ca, args.held)
                grown = (result["rss_after"] - result["rss_before"]) / 2**20
                print(f"{result['count']} responses of {args.held_mib} MiB held open on "
                      f"{result['connections']} connections: process grew {grown:.1f} MiB, "
                      f"{result['unread'] / 2**20:.1f} MiB unread in hyper")
        finally:
            launcher.stop_all()


if __name__ == "__main__":
    main()
