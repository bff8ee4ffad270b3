"""The benchmark keeps working: bench/bench.py --quick against real nginx and
nghttpd, tiny counts, every client of the project's venv (no niquests venv).

It asserts that every run succeeded and checked its responses, and that the
results file, the tables and the chart are written; never how fast anything
was.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "bench.py"
ECHO_MODULE = Path("/usr/lib/nginx/modules/ngx_http_echo_module.so")


@pytest.fixture(scope="module")
def quick_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    if not ECHO_MODULE.exists():
        pytest.skip("nginx's echo module is missing (./scripts/test installs it)")
    out = tmp_path_factory.mktemp("bench")
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--niquests", "no", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=110,
        cwd=ROOT,
    )
    return proc, out


def test_quick_run_succeeds_for_every_client(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = quick_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    document = json.loads((out / "results.json").read_text())
    results = document["results"]
    assert set(results) == {"a", "b", "c", "d", "e", "f", "g", "h", "a'", "b'"}
    for key, by_client in results.items():
        for client, slot in by_client.items():
            assert slot["errors"] == [], (key, client, slot["errors"])
            assert len(slot["values"]) == 1 and slot["values"][0] > 0, (key, client)
    # The clients of the project's venv ran; niquests was left out as asked.
    assert {"floor", "hyper", "httpx-async", "httpx"} <= set(results["a"])
    assert set(results["f"]) == {"requests+hyper", "requests"}
    # The downloads report their memory, the threaded run its connections.
    assert all(r is not None for r in results["c"]["hyper"]["rss"])
    assert results["e"]["requests+hyper"]["connections"] == [1]


def test_quick_run_writes_tables_and_chart(
    quick_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    proc, out = quick_run
    assert "### Targets" in proc.stdout
    assert "| (a) | hyper >= 0.8x floor |" in proc.stdout
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
