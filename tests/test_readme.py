"""README.md's examples, run as written against local servers.

A stale example fails this file. What is substituted, and nothing else:

* Python blocks (```` ```python ````) run in-process, each on its own in a
  fresh namespace (so each block imports what it uses), in a temporary
  working directory. The README talks to two origins; the test maps them,
  at ``socket.create_connection`` (where hyper opens every TCP connection),
  to local servers: ``example.com:443`` to a hypercorn whose certificate
  names example.com, ``localhost:8443`` to nghttpd (TLS, h2, pushes
  ``/pushed.css`` with ``/``). Connecting anywhere else fails the test, so
  no example reaches the network. Host names, ports, TLS (by port 443 or
  ``secure=True``) and SNI stay exactly as written.
* Trust: ``certifi.where()`` (the default CA bundle of hyper and of
  requests, and requests' copy of it, ``DEFAULT_CA_BUNDLE_PATH``) returns
  the test CA; ``/path/to/ca.pem`` in a block is replaced
  by the test CA's path, and ``client.pem``/``client.key`` in the working
  directory are a client certificate the test CA issued.
* Console blocks: each ``$ hyper ...`` and ``$ http ...`` line runs in a
  shell (the virtual environment's scripts first on PATH) with
  ``localhost:8443`` rewritten to a hypercorn over TLS (h2) and
  ``localhost:8080`` to a hypercorn speaking h2c, ``REQUESTS_CA_BUNDLE``
  naming the test CA (both commands honour it), and must exit 0.

After a Python block, the test closes the connections, pools and sessions
it left in its namespace, as the end of a script would.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import certifi
import pytest
import requests.adapters
import requests.utils

import hyper
import hyper.pool
from hyper.cli import CA_ENV_VARS
from servers import Certs, Launcher, Server

pytestmark = pytest.mark.timeout(120)

README = Path(__file__).resolve().parent.parent / "README.md"

_FENCE = re.compile(r"^```(?P<lang>\w*)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def _blocks(lang: str) -> list[tuple[str, str]]:
    """(``README.md:LINE (section)``, code) of every block in ``lang``."""
    text = README.read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        if match["lang"] != lang:
            continue
        line = text.count("\n", 0, match.start()) + 1
        headings = re.findall(r"^#+ (.+)$", text[: match.start()], re.MULTILINE)
        found.append((f"README.md:{line} ({headings[-1]})", match["body"]))
    return found


PYTHON_BLOCKS = _blocks("python")
COMMANDS = [
    (where, line[2:])
    for where, body in _blocks("console")
    for line in body.splitlines()
    if line.startswith(("$ hyper ", "$ http ")) or " | hyper " in line
]


def test_readme_has_the_examples_this_file_runs() -> None:
    sections = {where.split(" (", 1)[1] for where, _ in PYTHON_BLOCKS}
    assert {"Quickstart)", "Streams)", "Server push)", "Flow control)", "TLS)"} <= sections
    assert len(COMMANDS) >= 5


@pytest.fixture(scope="module")
def origins(
    tmp_path_factory: pytest.TempPathFactory, certs: Certs, nghttpd_server: Server
) -> Iterator[dict[tuple[str, int], tuple[str, int]]]:
    """The README's origins and the local address each is served at."""
    directory = tmp_path_factory.mktemp("readme")
    issued = certs.ca.issue_cert("example.com", "localhost", "127.0.0.1")
    cert_path, key_path = directory / "example.com.pem", directory / "example.com.key"
    for blob in issued.cert_chain_pems:
        blob.write_to_path(str(cert_path), append=True)
    issued.private_key_pem.write_to_path(str(key_path))
    launcher = Launcher(directory / "servers")
    try:
        example = launcher.hypercorn(
            certs, name="example.com", certfile=str(cert_path), keyfile=str(key_path)
        )
        yield {
            ("example.com", 443): ("127.0.0.1", example.port),
            ("localhost", 8443): ("127.0.0.1", nghttpd_server.port),
        }
    finally:
        launcher.stop_all()


def _run_block(where: str, source: str) -> str:
    """Run one block in a fresh namespace; what it printed."""
    import requests

    namespace: dict[str, Any] = {"__name__": "__readme__"}
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(source, where, "exec"), namespace)
    finally:
        closable = (
            hyper.HTTPConnection, hyper.HTTP20Connection, hyper.HTTP11Connection,
            hyper.pool.ConnectionPool, requests.Session,
        )  # fmt: skip
        for value in namespace.values():
            if isinstance(value, closable):
                value.close()
    return printed.getvalue()


@pytest.mark.parametrize(("where", "code"), PYTHON_BLOCKS, ids=[w for w, _ in PYTHON_BLOCKS])
def test_python_example(
    where: str,
    code: str,
    origins: dict[tuple[str, int], tuple[str, int]],
    certs: Certs,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    connect = socket.create_connection
    seen: list[tuple[str, int]] = []

    def mapped(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        host, port = address[0], address[1]
        if (host, port) not in origins:
            raise AssertionError(f"{where} connects to {host}:{port}, which is not mapped")
        seen.append((host, port))
        return connect(origins[host, port], *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", mapped)
    monkeypatch.setattr(certifi, "where", lambda: str(certs.ca_path))
    # requests reads certifi.where() once, when it is first imported: an
    # earlier test may have imported it already.
    monkeypatch.setattr(requests.utils, "DEFAULT_CA_BUNDLE_PATH", str(certs.ca_path))
    monkeypatch.setattr(requests.adapters, "DEFAULT_CA_BUNDLE_PATH", str(certs.ca_path))
    for name in CA_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    shutil.copy(certs.client_cert_path, tmp_path / "client.pem")
    shutil.copy(certs.client_key_path, tmp_path / "client.key")
    monkeypatch.chdir(tmp_path)
    source = code.replace("/path/to/ca.pem", str(certs.ca_path))
    _run_block(where, source)
    if "example.com" in source or ".request(" in source:
        # Blocks that send a request reached a mapped server.
        assert seen, f"{where} sent nothing"


def test_push_example_receives_the_pushed_stylesheet(
    origins: dict[tuple[str, int], tuple[str, int]], certs: Certs, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push block prints each promised path and its body."""
    (where, code), = [(w, c) for w, c in PYTHON_BLOCKS if "(Server push)" in w]
    connect = socket.create_connection
    monkeypatch.setattr(
        socket, "create_connection", lambda address, *a, **k: connect(origins[address], *a, **k)
    )
    monkeypatch.setattr(certifi, "where", lambda: str(certs.ca_path))
    printed = _run_block(where, code)
    assert printed == "b'/pushed.css' b'p { color: green; }\\n'\n"


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[c for _, c in COMMANDS])
def test_console_example(
    where: str,
    command: str,
    h2_server: Server,
    h2c_server: Server,
    certs: Certs,
    tmp_path: Path,
) -> None:
    line = command.replace("localhost:8443", h2_server.authority).replace(
        "localhost:8080", f"127.0.0.1:{h2c_server.port}"
    )
    env = {k: v for k, v in os.environ.items() if k not in CA_ENV_VARS}
    env["REQUESTS_CA_BUNDLE"] = str(certs.ca_path)
    env["HTTPIE_CONFIG_DIR"] = str(tmp_path)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-c", line],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=100,
        env=env,
        cwd=tmp_path,
        check=False,
    )
    assert proc.returncode == 0, f"{where}: {line}\n{proc.stderr.decode(errors='replace')}"
    assert proc.stdout, f"{where}: {line} printed nothing"
