"""Stress one shared HTTP/1.1 connection: many threads, every answer checked.

Starts two loopback servers from tests/servers.py -- hypercorn over TLS
offering only ``http/1.1`` by ALPN, and the plaintext stdlib HTTP/1.1
server -- and, RUNS times for each, lets THREADS threads send PER_THREAD
requests each on ONE ``hyper.HTTPConnection`` (tests/h1load.py: each
request's id must come back in its own answer). Each run is bounded in time.
Prints one line per run and a total; exits 1 if anything failed.

    .venv/bin/python scripts/stress_http11.py [--threads 16] [--requests 500] [--runs 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import hyper  # noqa: E402
from h1load import LoadResult, run_shared  # noqa: E402
from hyper.tls import init_context  # noqa: E402
from servers import Launcher, make_certs  # noqa: E402

#: The longest one run may take (seconds) before its threads count as stuck.
RUN_BOUND = 300.0


def run_server(name: str, server: Any, context: Any, args: argparse.Namespace) -> int:
    failed = 0
    for run in range(1, args.runs + 1):
        conn = hyper.HTTPConnection(server.host, server.port, secure=server.scheme == "https",
                                    ssl_context=context, timeout=30)
        with conn:
            result = run_shared(conn, args.threads, args.requests, RUN_BOUND, tag=f"{run}")
            version = conn.version
        print(describe(name, run, version, result), flush=True)
        failed += not result.clean
    return failed


def describe(name: str, run: int, version: int | None, result: LoadResult) -> str:
    line = (f"{name} run {run:2}: HTTP version {version}, {result.sent} sent, "
            f"{result.matched} matched, {len(result.mismatched)} mismatched, "
            f"{sum(result.errors.values())} errors, {result.stuck} stuck threads, "
            f"{result.seconds:.1f} s")
    for error, count in result.errors.most_common(3):
        line += f"\n    {count} x {error}"
    for asked, got in result.mismatched[:3]:
        line += f"\n    asked {asked}, got {got}"
    return line


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--requests", type=int, default=500, help="per thread")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="stress-http11-") as tmp:
        (Path(tmp) / "certs").mkdir()
        certs = make_certs(Path(tmp) / "certs")
        launcher = Launcher(Path(tmp) / "servers")
        try:
            tls = launcher.hypercorn(certs, name="h1-tls", alpn_protocols=["http/1.1"])
            plain = launcher.h1()
            context = init_context(cert_path=str(certs.ca_path))
            failed = run_server("tls  ", tls, context, args)
            failed += run_server("plain", plain, None, args)
        finally:
            launcher.stop_all()
    print(f"{failed} of {2 * args.runs} runs had failures")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
