"""hyper in one minute: several requests in flight on one HTTP/2 connection.

1. make a throwaway certificate authority and a certificate for localhost;
2. start hypercorn (scripts/demo_server.py) over TLS on a free loopback port;
3. with hyper.HTTPConnection, send every request before reading any answer,
   then read the answers in the opposite order;
4. stop the server by its PID.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trustme

import hyper
import hyper.tls
from demo_server import PAGES  # scripts/ is on sys.path: this script's directory

HERE = Path(__file__).resolve().parent
PATHS = ["/slow", "/hello", "/fruit/apple", "/fruit/pear"]
READY_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
PROTOCOLS = {20: "HTTP/2", 11: "HTTP/1.1"}


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    ca.cert_pem.write_to_path(str(paths[0]))
    paths[1].write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(paths[2]))
    return paths


def start_server(cert: Path, key: Path, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Start hypercorn on a socket we bound ourselves (no race for the port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = int(listener.getsockname()[1])
    fd = listener.fileno()
    argv = [sys.executable, str(HERE / "demo_server.py"), str(fd), str(cert), str(key)]
    with listener, log.open("wb") as out:
        proc = subprocess.Popen(argv, pass_fds=(fd,), stdout=out, stderr=subprocess.STDOUT)
    return proc, port


def wait_until_ready(proc: subprocess.Popen[bytes], port: int, ca: Path, log: Path) -> None:
    context = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                context.wrap_socket(raw, server_hostname="localhost").close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server not ready after {READY_TIMEOUT}s:\n{log.read_text()}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_TIMEOUT)
    print(f"\nstopped the server (pid {proc.pid})")


def run_client(port: int, ca: Path) -> None:
    context = hyper.tls.init_context(cert_path=str(ca))
    conn = hyper.HTTPConnection("localhost", port, secure=True, ssl_context=context)
    try:
        started = time.monotonic()
        print(f"sending {len(PATHS)} requests before reading any response:")
        stream_ids = []
        for path in PATHS:
            stream_id = conn.request("GET", path)
            stream_ids.append(stream_id)
            print(f"  GET {path:<14} -> stream {stream_id}")
        print("\nreading the responses, last request first:")
        for path, stream_id in reversed(list(zip(PATHS, stream_ids))):
            response = conn.get_response(stream_id)
            body = response.read().decode().strip()
            protocol = PROTOCOLS.get(response.version, str(response.version))
            print(f"  stream {stream_id} {path:<14} {protocol} {response.status}  {body!r}")
        elapsed = time.monotonic() - started
        total_delay = sum(delay for delay, _ in PAGES.values())
        print(
            f"\nall answers in {elapsed:.2f} s on one connection; "
            f"one after the other they would take at least {total_delay:.1f} s"
        )
    finally:
        conn.close()


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="hyper-demo-") as tmp:
        ca, cert, key = make_certificates(Path(tmp))
        log = Path(tmp) / "server.log"
        proc, port = start_server(cert, key, log)
        print(f"hypercorn (pid {proc.pid}) serving HTTP/2 over TLS on https://localhost:{port}\n")
        try:
            wait_until_ready(proc, port, ca, log)
            run_client(port, ca)
        finally:
            stop_server(proc)


if __name__ == "__main__":
    main()
