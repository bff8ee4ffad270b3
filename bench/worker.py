"""One benchmark run in its own process: one client, one scenario.

The harness (bench.py) starts ``python worker.py`` (the project's venv, or
the niquests venv for niquests and jh2), writes one JSON line (the job) to
its stdin and reads one JSON line (the result) from its stdout. The worker
connects, warms up with one request, then times the scenario alone, checks
every response (status and length; a sha256 for downloads) and stops at the
job's count or deadline, whichever comes first.

Only the standard library is imported at the top: each client's library is
imported by its own code, so a venv needs only the libraries it runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

SMALL_LENGTH = 1024


class CheckError(Exception):
    """A response was not the one expected."""


def expect(status: int, length: int, want_length: int, what: str) -> None:
    if status != 200 or length != want_length:
        raise CheckError(f"{what}: status {status}, {length} bytes (want 200, {want_length})")


# -- clients ---------------------------------------------------------------
# Each has get(path) -> (status, body), download(path, read_size) ->
# (status, length, sha256), upload(path, body) -> (status, answer), close(),
# and optionally multiplex(path, count, in_flight, check, deadline) -> count.


def alias_jh2() -> None:
    """Make ``import h2`` (and hpack, hyperframe) load jh2: hyper unchanged on jh2."""
    jh2 = importlib.import_module("jh2")
    sys.modules["h2"] = jh2
    for name in (
        "config",
        "connection",
        "errors",
        "events",
        "exceptions",
        "frame_buffer",
        "settings",
        "stream",
        "utilities",
        "windows",
    ):
        sys.modules[f"h2.{name}"] = importlib.import_module(f"jh2.{name}")
    for lib in ("hpack", "hyperframe"):
        module = importlib.import_module(f"jh2.{lib}")
        sys.modules[lib] = module
        for sub in ("exceptions", "frame", "hpack", "table", "huffman", "struct", "flags"):
            with contextlib.suppress(ImportError):
                sys.modules[f"{lib}.{sub}"] = importlib.import_module(f"jh2.{lib}.{sub}")


class FloorClient:
    def __init__(self, job: dict[str, Any]) -> None:
        from floor import Floor

        self.floor = Floor("localhost", job["port"], job["ca"], job.get("h2mod", "h2"))

    def get(self, path: str) -> tuple[int, bytes]:
        got: list[tuple[int, bytes]] = []
        self.floor.run_gets(path, 1, 1, lambda s, b: got.append((s, b)))
        return got[0]

    def multiplex(
        self,
        path: str,
        count: int,
        in_flight: int,
        check: Callable[[int, bytes], None],
        deadline: float,
    ) -> int:
        return self.floor.run_gets(path, count, in_flight, check)

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        return self.floor.download(path, read_size)

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        return self.floor.upload(path, body)

    def close(self) -> None:
        self.floor.close()


class HyperClient:
    def __init__(self, job: dict[str, Any]) -> None:
        if job.get("h2mod") == "jh2":
            alias_jh2()
        import hyper
        import hyper.tls

        self.conn = hyper.HTTP20Connection(
            "localhost",
            job["port"],
            secure=True,
            ssl_context=hyper.tls.init_context(cert_path=job["ca"]),
            timeout=30,
        )

    def get(self, path: str) -> tuple[int, bytes]:
        response = self.conn.get_response(self.conn.request("GET", path))
        return response.status, bytes(response.read())

    def multiplex(
        self,
        path: str,
        count: int,
        in_flight: int,
        check: Callable[[int, bytes], None],
        deadline: float,
    ) -> int:
        pending: deque[int] = deque()
        started = done = 0
        while started < min(in_flight, count):
            pending.append(self.conn.request("GET", path))
            started += 1
        while pending:
            response = self.conn.get_response(pending.popleft())
            check(response.status, bytes(response.read()))
            done += 1
            if started < count and time.monotonic() < deadline:
                pending.append(self.conn.request("GET", path))
                started += 1
        return done

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        response = self.conn.get_response(self.conn.request("GET", path))
        digest = hashlib.sha256()
        total = 0
        while True:
            chunk = response.read(read_size)
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        return response.status, total, digest.hexdigest()

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.conn.get_response(self.conn.request("POST", path, body=body))
        return response.status, bytes(response.read())

    def close(self) -> None:
        self.conn.close()


class HttpxClient:
    def __init__(self, job: dict[str, Any]) -> None:
        import ssl

        import httpx

        self.context = ssl.create_default_context(cafile=job["ca"])
        self.base = job["url"]
        self.client = httpx.Client(http2=True, verify=self.context, timeout=30)

    def get(self, path: str) -> tuple[int, bytes]:
        response = self.client.get(self.base + path)
        return response.status_code, response.content

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        digest = hashlib.sha256()
        total = 0
        with self.client.stream("GET", self.base + path) as response:
            for chunk in response.iter_bytes(read_size):
                digest.update(chunk)
                total += len(chunk)
        return response.status_code, total, digest.hexdigest()

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.client.post(self.base + path, content=body)
        return response.status_code, response.content

    def close(self) -> None:
        self.client.close()


class HttpxAsyncClient(HttpxClient):
    """httpx's fastest way to have many requests in flight: AsyncClient, tasks."""

    def multiplex(
        self,
        path: str,
        count: int,
        in_flight: int,
        check: Callable[[int, bytes], None],
        deadline: float,
    ) -> int:
        import asyncio

        import httpx

        async def main() -> int:
            done = 0
            async with httpx.AsyncClient(http2=True, verify=self.context, timeout=30) as client:
                gate = asyncio.Semaphore(in_flight)

                async def one() -> None:
                    nonlocal done
                    async with gate:
                        if time.monotonic() > deadline:
                            return
                        response = await client.get(self.base + path)
                        check(response.status_code, response.content)
                        done += 1

                await client.get(self.base + path)  # connect outside the count
                await asyncio.gather(*(one() for _ in range(count)))
            return done

        return asyncio.run(main())


class Urllib3Client:
    def __init__(self, job: dict[str, Any]) -> None:
        import urllib3

        self.base = job["url"]
        self.pool = urllib3.PoolManager(ca_certs=job["ca"], maxsize=job.get("threads", 1))

    def get(self, path: str) -> tuple[int, bytes]:
        response = self.pool.request("GET", self.base + path, timeout=30)
        return response.status, bytes(response.data)

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        response = self.pool.request("GET", self.base + path, preload_content=False, timeout=30)
        digest = hashlib.sha256()
        total = 0
        for chunk in response.stream(read_size):
            digest.update(chunk)
            total += len(chunk)
        response.release_conn()
        return response.status, total, digest.hexdigest()

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.pool.request("POST", self.base + path, body=body, timeout=30)
        return response.status, bytes(response.data)

    def close(self) -> None:
        self.pool.clear()


class SessionClient:
    """requests (with hyper's HTTP20Adapter or its own HTTPAdapter) or niquests."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.base = job["url"]
        self.ca = job["ca"]
        self.session = self.make_session(job)

    def make_session(self, job: dict[str, Any]) -> Any:
        raise NotImplementedError

    def get(self, path: str) -> tuple[int, bytes]:
        # verify= on each call: a REQUESTS_CA_BUNDLE in the environment would
        # otherwise win over session.verify.
        response = self.session.get(self.base + path, timeout=30, verify=self.ca)
        return response.status_code, response.content

    def download(self, path: str, read_size: int) -> tuple[int, int, str]:
        response = self.session.get(self.base + path, timeout=30, verify=self.ca, stream=True)
        digest = hashlib.sha256()
        total = 0
        for chunk in response.iter_content(read_size):
            digest.update(chunk)
            total += len(chunk)
        response.close()
        return response.status_code, total, digest.hexdigest()

    def upload(self, path: str, body: bytes) -> tuple[int, bytes]:
        response = self.session.post(self.base + path, data=body, timeout=30, verify=self.ca)
        return response.status_code, response.content

    def close(self) -> None:
        self.session.close()


class RequestsHyperClient(SessionClient):
    def make_session(self, job: dict[str, Any]) -> Any:
        if job.get("h2mod") == "jh2":
            alias_jh2()
        import requests

        from hyper.contrib import HTTP20Adapter

        session = requests.Session()
        session.mount("https://", HTTP20Adapter())
        return session


class RequestsClient(SessionClient):
    def make_session(self, job: dict[str, Any]) -> Any:
        import requests

        session = requests.Session()
        threads = job.get("threads", 1)
        session.mount(
            "https://",
            requests.adapters.HTTPAdapter(pool_connections=1, pool_maxsize=max(threads, 10)),
        )
        return session


class NiquestsClient(SessionClient):
    def make_session(self, job: dict[str, Any]) -> Any:
        import niquests

        return niquests.Session(pool_maxsize=max(job.get("threads", 1), 10))


class NiquestsMultiplexed(NiquestsClient):
    def make_session(self, job: dict[str, Any]) -> Any:
        import niquests

        return niquests.Session(multiplexed=True)

    def multiplex(
        self,
        path: str,
        count: int,
        in_flight: int,
        check: Callable[[int, bytes], None],
        deadline: float,
    ) -> int:
        done = 0
        while done < count and time.monotonic() < deadline:
            batch = [
                self.session.get(self.base + path, timeout=30, verify=self.ca)
                for _ in range(min(in_flight, count - done))
            ]
            self.session.gather()
            for response in batch:
                check(response.status_code, response.content)
            done += len(batch)
        return done


CLIENTS: dict[str, type[Any]] = {
    "floor": FloorClient,
    "hyper": HyperClient,
    "httpx": HttpxClient,
    "httpx-async": HttpxAsyncClient,
    "urllib3": Urllib3Client,
    "requests+hyper": RequestsHyperClient,
    "requests": RequestsClient,
    "niquests": NiquestsClient,
    "niquests-multiplexed": NiquestsMultiplexed,
}


# -- scenarios ----------------------------------------------------------------
# Each returns (requests or bytes done, bytes moved).


def small_check(status: int, body: bytes) -> None:
    expect(status, len(body), SMALL_LENGTH, "GET /1k.bin")


def sequential(client: Any, job: dict[str, Any], deadline: float) -> tuple[int, int]:
    done = 0
    while done < job["count"] and time.monotonic() < deadline:
        status, body = client.get(job["path"])
        expect(status, len(body), job["length"], f"GET {job['path']}")
        done += 1
    return done, done * job["length"]


def multiplex(client: Any, job: dict[str, Any], deadline: float) -> tuple[int, int]:
    def check(status: int, body: bytes) -> None:
        expect(status, len(body), job["length"], f"GET {job['path']}")

    if not hasattr(client, "multiplex"):  # a client with one request at a time
        return sequential(client, job, deadline)
    done = client.multiplex(job["path"], job["count"], job["in_flight"], check, deadline)
    return done, done * job["length"]


def threaded(client: Any, job: dict[str, Any], deadline: float) -> tuple[int, int]:
    lock = threading.Lock()
    state = {"taken": 0, "done": 0}
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while time.monotonic() < deadline:
                with lock:
                    if state["taken"] >= job["count"] or errors:
                        return
                    state["taken"] += 1
                status, body = client.get(job["path"])
                expect(status, len(body), job["length"], f"GET {job['path']}")
                with lock:
                    state["done"] += 1
        except BaseException as exc:  # reported by the harness
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(job["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(1.0, deadline - time.monotonic() + 30))
    if errors:
        raise errors[0]
    return state["done"], state["done"] * job["length"]


def download(client: Any, job: dict[str, Any], deadline: float) -> tuple[int, int]:
    status, total, digest = client.download(job["path"], job["read_size"])
    expect(status, total, job["length"], f"GET {job['path']}")
    if digest != job["sha256"]:
        raise CheckError(f"GET {job['path']}: sha256 {digest}, want {job['sha256']}")
    return 1, total


def upload(client: Any, job: dict[str, Any], deadline: float) -> tuple[int, int]:
    body = (bytes(range(256)) * (job["length"] // 256 + 1))[: job["length"]]
    done = 0
    while done < job["count"] and time.monotonic() < deadline:
        status, answer = client.upload(job["path"], body)
        if status != 200 or answer.strip() != str(len(body)).encode():
            raise CheckError(f"POST {job['path']}: status {status}, answer {answer[:80]!r}")
        done += 1
    return done, done * len(body)


SCENARIOS: dict[str, Callable[[Any, dict[str, Any], float], tuple[int, int]]] = {
    "sequential": sequential,
    "multiplex": multiplex,
    "threads": threaded,
    "download": download,
    "upload": upload,
}


# -- memory -----------------------------------------------------------------


def reset_peak_rss() -> int:
    """Reset the kernel's peak-RSS mark (Linux) and return the current RSS."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")
    return status_kib("VmRSS") * 1024


def status_kib(field: str) -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(job: dict[str, Any]) -> dict[str, Any]:
    client = CLIENTS[job["client"]](job)
    try:
        if job["kind"] != "multiplex" or job["client"] != "httpx-async":
            status, body = client.get(job["warmup_path"])  # connect outside the timing
            expect(status, len(body), SMALL_LENGTH, "warm-up GET")
        scenario = SCENARIOS[job["kind"]]
        rss_before = reset_peak_rss()
        started = time.perf_counter()
        deadline = time.monotonic() + job["seconds"]
        if job.get("profile"):
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
            done, moved = scenario(client, job, deadline)
            profiler.disable()
            profiler.dump_stats(job["profile"])
        else:
            done, moved = scenario(client, job, deadline)
        elapsed = time.perf_counter() - started
        peak = status_kib("VmHWM") * 1024
    finally:
        client.close()
    return {
        "done": done,
        "bytes": moved,
        "seconds": elapsed,
        "rss_growth": max(0, peak - rss_before) if peak else None,
        "pid": os.getpid(),
    }


def main() -> None:
    job = json.loads(sys.stdin.readline())
    try:
        result = run(job)
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
