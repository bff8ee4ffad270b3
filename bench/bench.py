"""Client benchmark on loopback: hyper against httpx, urllib3 and requests.

The server is Debian's nginx (C, so the clients' own cost dominates), started
on free loopback ports with a throw-away certificate, serving static files
over TLS with HTTP/2 and HTTP/1.1. Every scenario is bounded in count and
stops by itself. Run it with::

    .venv/bin/pip install 'httpx[http2]' && .venv/bin/python bench/bench.py

Scenarios: ``sequential`` (N small GETs one after the other on one
connection), ``threads`` (N small GETs from 8 threads sharing one client),
``download`` (one large file, MB/s).
"""

from __future__ import annotations

import argparse
import shutil
import ssl
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import hyper  # noqa: E402
import hyper.tls  # noqa: E402
from servers import Launcher, make_certs  # noqa: E402

SMALL = "/small.txt"
BIG = "/bench.bin"
THREADS = 8


def hyper_client(base: str, ca: str) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    host, port = base.split("//")[1].split(":")
    conn = hyper.HTTP20Connection(host, int(port), secure=True,
                                  ssl_context=hyper.tls.init_context(cert_path=ca), timeout=30)

    def get(path: str) -> bytes:
        return bytes(conn.get_response(conn.request("GET", path)).read())

    return get, conn.close


def hyper_adapter_client(base: str, ca: str) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    import requests

    from hyper.contrib import HTTP20Adapter

    session = requests.Session()
    session.mount("https://", HTTP20Adapter())

    # verify= on each call: a REQUESTS_CA_BUNDLE in the environment would
    # otherwise win over session.verify.
    def get(path: str) -> bytes:
        return session.get(base + path, timeout=30, verify=ca).content

    return get, session.close


def httpx_client(base: str, ca: str) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    import httpx

    client = httpx.Client(http2=True, verify=ssl.create_default_context(cafile=ca), timeout=30)

    def get(path: str) -> bytes:
        return client.get(base + path).content

    return get, client.close


def urllib3_client(base: str, ca: str) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    import urllib3

    pool = urllib3.PoolManager(ca_certs=ca, maxsize=THREADS)

    def get(path: str) -> bytes:
        return bytes(pool.request("GET", base + path, timeout=30).data)

    return get, pool.clear


def requests_client(base: str, ca: str) -> tuple[Callable[[str], bytes], Callable[[], None]]:
    import requests

    session = requests.Session()
    session.mount("https://", requests.adapters.HTTPAdapter(pool_maxsize=THREADS))

    def get(path: str) -> bytes:
        return session.get(base + path, timeout=30, verify=ca).content

    return get, session.close


CLIENTS: dict[str, tuple[str, Callable[..., Any]]] = {
    "hyper (HTTP20Connection)": ("h2", hyper_client),
    "hyper (requests + HTTP20Adapter)": ("h2", hyper_adapter_client),
    "httpx (http2=True)": ("h2", httpx_client),
    "urllib3": ("http/1.1", urllib3_client),
    "requests": ("http/1.1", requests_client),
}


def sequential(get: Callable[[str], bytes], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        get(SMALL)
    return count / (time.perf_counter() - started)


def threaded(get: Callable[[str], bytes], count: int) -> float:
    per_thread = count // THREADS
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(per_thread):
                get(SMALL)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    if errors:
        raise errors[0]
    return per_thread * THREADS / (time.perf_counter() - started)


def download(get: Callable[[str], bytes], size: int) -> float:
    started = time.perf_counter()
    body = get(BIG)
    elapsed = time.perf_counter() - started
    if len(body) != size:
        raise RuntimeError(f"downloaded {len(body)} bytes, expected {size}")
    return size / elapsed / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario")
    parser.add_argument("--mib", type=int, default=256, help="download size in MiB")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median is shown)")
    args = parser.parse_args()
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
            ca = str(certs.ca_path)
            print(f"nginx on {server.url}; {args.requests} requests per scenario, "
                  f"{args.mib} MiB download, median of {args.rounds} rounds\n")
            print(f"{'client':34} {'proto':9} {'seq req/s':>10} {'8 thr req/s':>12} "
                  f"{'MB/s':>8}")
            for name, (proto, factory) in CLIENTS.items():
                results: list[list[float]] = [[], [], []]
                try:
                    for _ in range(args.rounds):
                        get, close = factory(server.url, ca)
                        try:
                            get(SMALL)  # connect outside the measurement
                            results[0].append(sequential(get, args.requests))
                            results[1].append(threaded(get, args.requests))
                            results[2].append(download(get, size))
                        finally:
                            close()
                except ImportError as exc:
                    print(f"{name:34} skipped: {exc}")
                    continue
                seq, thr, mbs = (statistics.median(r) for r in results)
                print(f"{name:34} {proto:9} {seq:10.0f} {thr:12.0f} {mbs:8.0f}")
        finally:
            launcher.stop_all()


if __name__ == "__main__":
    main()
