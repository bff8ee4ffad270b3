"""hyper's benchmark: one command, real servers on loopback, every client.

    ./bench/run                 # the full run (~10 min): tables, chart, BENCHMARKS.md
    ./bench/run --quick         # a smoke run (~20 s), nothing written but --out
    ./bench/run --profile f --client requests+hyper   # cProfile of one run

nginx (with the echo module) and nghttpd are started on free loopback ports
over TLS with a per-run trustme certificate, and stopped at the end. Each
run is one worker process (worker.py) driving one client through one
scenario (scenarios.py); runs alternate between clients (A B C A B C ...),
each bounded in count and time, and every response is checked. The tables
give medians and the min-max spread; the targets are ratios of medians of
the same run. See BENCHMARKS.md for the method and the results.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402
import serve  # noqa: E402
from scenarios import CLIENTS, SCENARIOS, Client, Scenario  # noqa: E402

NIQUESTS_VENV = ROOT / ".bench-venv-niquests"
H2LOAD_HINT = "h2load is missing: apt-get install nghttp2-client (Debian) to add the C reference"


def python_of(client: Client) -> str:
    if client.venv == "niquests":
        return str(NIQUESTS_VENV / "bin" / "python")
    return sys.executable


def ensure_niquests_venv() -> None:
    """niquests replaces urllib3 in its environment: it gets a venv of its own
    (with jh2, which it depends on, and what hyper needs to run on jh2)."""
    python = NIQUESTS_VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import niquests, jh2, h11, certifi"], capture_output=True
        ).returncode
        == 0
    ):
        return
    print(f"creating {NIQUESTS_VENV.name} (pip install niquests certifi h11) ...", flush=True)
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(NIQUESTS_VENV)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "niquests", "certifi", "h11"], check=True
    )


def job_for(
    scenario: Scenario,
    client: Client,
    params: dict[str, Any],
    site: serve.Site,
    ca: str,
    hashes: dict[str, str],
    seconds: float,
) -> dict[str, Any]:
    job: dict[str, Any] = {
        "client": client.worker,
        "h2mod": client.h2mod,
        "kind": scenario.kind,
        "url": site.url,
        "port": site.port,
        "ca": ca,
        "seconds": seconds,
        "warmup_path": serve.SMALL,
        "count": params.get("count", 1),
        "threads": params.get("threads", 1),
        "in_flight": params.get("in_flight", 1),
    }
    if scenario.kind == "download":
        job["path"] = serve.big_name(params["size"])
        job["length"] = params["size"]
        job["read_size"] = params["read_size"]
        job["sha256"] = hashes[job["path"]]
    elif scenario.kind == "upload":
        job["path"] = serve.UPLOAD
        job["length"] = params["size"]
    elif scenario.kind == "threads":
        job["path"] = serve.SLOW
        job["length"] = len(serve.SLOW_BODY)
    else:
        job["path"] = serve.SMALL
        job["length"] = len(serve.small_body())
    return job


def run_worker(client: Client, job: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    # The worktree first (hyper itself, for the niquests venv); keep what
    # the caller had there (the test runs' loopback guard).
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path)
    try:
        proc = subprocess.run(
            [*prefix, python_of(client), str(HERE / "worker.py")],
            input=json.dumps(job) + "\n",
            capture_output=True,
            text=True,
            timeout=job["seconds"] + 120,
            env=env,
        )
    except subprocess.TimeoutExpired:
        return {"error": "worker timed out (killed)"}
    # (Only the worker's line is JSON: py-spy, when used, adds its own.)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"worker exited {proc.returncode}: {proc.stderr.strip()[-400:]}"}
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def run_h2load(job: dict[str, Any]) -> dict[str, Any]:
    binary = shutil.which("h2load")
    if binary is None:
        return {"error": H2LOAD_HINT}
    argv = [
        binary,
        "-n",
        str(job["count"]),
        "-c",
        "1",
        "-t",
        "1",
        "-m",
        str(job["in_flight"]),
        job["url"] + job["path"],
    ]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=job["seconds"] + 60)
    except subprocess.TimeoutExpired:
        return {"error": "h2load timed out (killed)"}
    out = proc.stdout
    finished = re.search(r"finished in ([\d.]+)(m?s),", out)
    counts = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", out)
    codes = re.search(r"status codes: (\d+) 2xx", out)
    if not (finished and counts and codes) or int(codes.group(1)) != job["count"]:
        return {"error": f"h2load: {out.strip()[-300:]} {proc.stderr.strip()[-200:]}"}
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    done = int(counts.group(2))
    return {"done": done, "bytes": done * job["length"], "seconds": seconds, "rss_growth": None}


def value_of(scenario: Scenario, result: dict[str, Any]) -> float:
    if scenario.unit == "MB/s":
        return float(result["bytes"]) / result["seconds"] / 1e6
    return float(result["done"]) / result["seconds"]


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("hyper", "h2", "h11", "requests", "urllib3", "httpx", "httpcore"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    niq = NIQUESTS_VENV / "bin" / "python"
    if niq.exists():
        code = (
            "from importlib import metadata as m; print(' '.join(n + '=' + m.version(n) "
            "for n in ('niquests', 'urllib3-future', 'jh2')))"
        )
        out = subprocess.run([str(niq), "-c", code], capture_output=True, text=True).stdout
        for pair in out.split():
            name, _, version = pair.partition("=")
            found[name] = version
    for binary, flag in (("nginx", "-v"), ("nghttpd", "--version"), ("h2load", "--version")):
        if shutil.which(binary):
            proc = subprocess.run([binary, flag], capture_output=True, text=True)
            text = (proc.stdout + proc.stderr).strip().splitlines()
            found[binary] = text[0].split()[-1].split("/")[-1] if text else "?"
    found["openssl"] = __import__("ssl").OPENSSL_VERSION
    return found


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "kernel": platform.release(),
        "system": platform.platform(terse=True),
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def selected(args: argparse.Namespace) -> list[Scenario]:
    keys = set(args.scenarios.split(",")) if args.scenarios else None
    return [s for s in SCENARIOS if keys is None or s.key in keys]


def clients_of(scenario: Scenario, args: argparse.Namespace) -> list[Client]:
    names = [n for n in scenario.clients if args.jh2 or n not in scenario.optional]
    if args.clients:
        wanted = set(args.clients.split(","))
        names = [n for n in names if n in wanted]
    out = []
    for name in names:
        client = CLIENTS[name]
        if client.venv == "niquests" and args.niquests == "no":
            continue
        if client.worker == "h2load" and shutil.which("h2load") is None:
            continue
        out.append(client)
    return out


def run_all(args: argparse.Namespace, servers: serve.Servers, ca: str) -> dict[str, Any]:
    scenarios = selected(args)
    results: dict[str, Any] = {}
    for scenario in scenarios:
        results[scenario.key] = {
            c.name: {"values": [], "rss": [], "connections": [], "errors": []}
            for c in clients_of(scenario, args)
        }
    started = time.monotonic()
    for round_no in range(args.rounds):
        for scenario in scenarios:
            site = servers.nginx if scenario.server == "nginx" else servers.nghttpd
            if site is None:
                continue
            params = scenario.params(args.quick, args.scale)
            for client in clients_of(scenario, args):
                job = job_for(scenario, client, params, site, ca, servers.hashes, args.seconds)
                offset = serve.log_size(site.access_log)
                result = run_h2load(job) if client.worker == "h2load" else run_worker(client, job)
                slot = results[scenario.key][client.name]
                if "error" in result:
                    slot["errors"].append(result["error"])
                    print(
                        f"  round {round_no + 1} ({scenario.key}) {client.name}: "
                        f"ERROR {result['error']}",
                        flush=True,
                    )
                    continue
                value = value_of(scenario, result)
                slot["values"].append(value)
                slot["rss"].append(result.get("rss_growth"))
                if scenario.kind == "threads" and site.access_log is not None:
                    slot["connections"].append(serve.count_connections(site.access_log, offset))
                if result["done"] < job["count"]:
                    slot["errors"].append(f"stopped at the deadline after {result['done']}")
                print(
                    f"  round {round_no + 1} ({scenario.key}) {client.name:16} "
                    f"{value:10.1f} {scenario.unit}",
                    flush=True,
                )
        print(f"round {round_no + 1} done after {time.monotonic() - started:.0f} s", flush=True)
    return results


def profile(args: argparse.Namespace, servers: serve.Servers, ca: str) -> None:
    scenario = next(s for s in SCENARIOS if s.key == args.profile)
    client = CLIENTS[args.client]
    site = servers.nginx if scenario.server == "nginx" else servers.nghttpd
    assert site is not None
    job = job_for(
        scenario,
        client,
        scenario.params(args.quick, args.scale),
        site,
        ca,
        servers.hashes,
        args.seconds,
    )
    out = Path(args.out or tempfile.mkdtemp(prefix="hyper-profile-"))
    out.mkdir(parents=True, exist_ok=True)
    name = f"{scenario.key}-{client.name}"
    per_what = "request" if scenario.unit == "req/s" else "MiB"
    if args.py_spy:
        # Sampling, so the proportions are those of a normal run; --idle
        # keeps the samples spent waiting in poll/recv.
        spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        raw = out / f"{name}.py-spy.txt"
        prefix = (
            spy,
            "record",
            "--idle",
            "--full-filenames",
            "-r",
            "1000",
            "-f",
            "raw",
            "-o",
            str(raw),
            "--",
        )
        result = run_worker(client, job, prefix)
        if "error" in result:
            sys.exit(f"profile run failed: {result['error']}")
        per = result["done"] if scenario.unit == "req/s" else result["bytes"] / 2**20
        groups, functions = report.py_spy_groups(raw.read_text())
        total = sum(groups.values())
        print(
            f"({scenario.key}) {client.name}: {result['done']} done in "
            f"{result['seconds']:.2f} s under py-spy ({total} samples); {raw}"
        )
        print(f"\nown time by package (share of the samples; us per {per_what}):")
        for group, count in sorted(groups.items(), key=lambda item: -item[1]):
            share = count / total
            print(f"  {group:22} {share:6.1%} {share * result['seconds'] / per * 1e6:9.1f} us")
        print("\ntop functions by own samples:")
        for function, count in sorted(functions.items(), key=lambda item: -item[1])[: args.top]:
            print(f"  {count / total:6.1%}  {function}")
        return
    job["profile"] = str(out / f"{name}.pstats")
    result = run_worker(client, job)
    if "error" in result:
        sys.exit(f"profile run failed: {result['error']}")
    print(
        f"({scenario.key}) {client.name}: {result['done']} done in {result['seconds']:.2f} s "
        f"under cProfile; stats in {job['profile']}"
    )
    stats = pstats.Stats(job["profile"])
    print(f"\nown time by package, per {per_what}:")
    per = result["done"] if scenario.unit == "req/s" else result["bytes"] / 2**20
    for group, seconds in report.profile_groups(stats):
        print(f"  {group:22} {seconds:7.3f} s  {seconds / per * 1e6:9.1f} us")
    stats.sort_stats("tottime").print_stats(args.top)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny counts, one round, nothing written but --out (smoke test)",
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 5; quick 1)")
    parser.add_argument(
        "--seconds", type=float, default=None, help="time bound of one run (default 60; quick 10)"
    )
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="multiply every request count and transfer size (e.g. 0.2)",
    )
    parser.add_argument("--scenarios", default="", help="comma-separated keys, e.g. a,b,f")
    parser.add_argument("--clients", default="", help="comma-separated client names")
    parser.add_argument(
        "--niquests",
        choices=("yes", "no"),
        default="yes",
        help="run niquests (and jh2) from .bench-venv-niquests, creating it",
    )
    parser.add_argument(
        "--jh2", action="store_true", help="add the floor and hyper on jh2 to (a), (b), (c)"
    )
    parser.add_argument(
        "--out",
        default=None,
        help="where results.json and chart.png go (default: bench/results; "
        "quick: a temporary directory)",
    )
    parser.add_argument(
        "--update-docs",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rewrite BENCHMARKS.md's results section (default: full runs)",
    )
    parser.add_argument(
        "--render", default="", help="only redo the tables and chart of this results.json"
    )
    parser.add_argument("--profile", default="", help="cProfile one run of this scenario")
    parser.add_argument(
        "--py-spy", action="store_true", help="--profile with py-spy (sampling) instead of cProfile"
    )
    parser.add_argument("--client", default="hyper", help="the client of --profile")
    parser.add_argument("--top", type=int, default=25, help="functions --profile lists")
    args = parser.parse_args(argv)
    if args.rounds is None:
        args.rounds = 1 if args.quick else 5
    if args.seconds is None:
        args.seconds = 10.0 if args.quick else 60.0
    if args.update_docs is None:
        args.update_docs = not (args.quick or args.profile or args.scenarios or args.render)
    return args


def render(args: argparse.Namespace, document: dict[str, Any], out: Path) -> None:
    """Tables to stdout, chart to ``out``, and (--update-docs) BENCHMARKS.md."""
    scenarios = [s for s in SCENARIOS if s.key in document["results"]]
    summary = report.summarize(document, scenarios, document["info"]["quick"])
    print("\n" + summary.markdown)
    report.chart(document, scenarios, out / "chart.png")
    print(f"\nresults in {out}/results.json, chart in {out}/chart.png")
    if args.update_docs:
        report.update_benchmarks_md(ROOT / "BENCHMARKS.md", summary.markdown)
        shutil.copy(out / "chart.png", ROOT / "bench" / "chart.png")
        print("BENCHMARKS.md's results section and bench/chart.png updated")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render:
        path = Path(args.render)
        render(args, json.loads(path.read_text()), path.parent)
        return 0
    uses_niquests = args.niquests == "yes" and (
        args.jh2
        or any(
            CLIENTS[n].venv == "niquests" and n not in s.optional
            for s in selected(args)
            for n in s.clients
        )
    )
    if args.profile:
        uses_niquests = args.niquests == "yes" and CLIENTS[args.client].venv == "niquests"
    if uses_niquests:
        ensure_niquests_venv()
    if shutil.which("h2load") is None:
        print(H2LOAD_HINT)
    sizes = [
        s.params(args.quick, args.scale)["size"]
        for s in selected(args)
        if "size" in s.params(args.quick, args.scale) and s.kind == "download"
    ]
    with tempfile.TemporaryDirectory(prefix="hyper-bench-") as tmp:
        sys.path.insert(0, str(ROOT / "tests"))
        from servers import make_certs

        (Path(tmp) / "certs").mkdir()
        certs = make_certs(Path(tmp) / "certs")
        needs_nghttpd = any(s.server == "nghttpd" for s in selected(args))
        servers = serve.Servers(Path(tmp) / "run", certs, sizes, with_nghttpd=needs_nghttpd)
        try:
            ca = str(certs.ca_path)
            if args.profile:
                profile(args, servers, ca)
                return 0
            print(
                f"nginx on {servers.nginx.url}"
                + (f", nghttpd on {servers.nghttpd.url}" if servers.nghttpd else "")
                + f"; {args.rounds} round(s), each run bounded to {args.seconds:g} s",
                flush=True,
            )
            info = {
                "machine": machine(),
                "versions": versions(),
                "command": " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])]),
                "quick": args.quick,
                "rounds": args.rounds,
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            }
            started = time.monotonic()
            results = run_all(args, servers, ca)
            info["minutes"] = f"{(time.monotonic() - started) / 60:.1f}"
        finally:
            servers.stop()
    out = (
        Path(args.out)
        if args.out
        else (Path(tempfile.mkdtemp(prefix="hyper-bench-out-")) if args.quick else HERE / "results")
    )
    out.mkdir(parents=True, exist_ok=True)
    document = {"info": info, "results": results}
    (out / "results.json").write_text(json.dumps(document, indent=1) + "\n")
    render(args, document, out)
    failed = [
        f"({k}) {c}" for k, by in results.items() for c, slot in by.items() if not slot["values"]
    ]
    if failed:
        print("runs that never succeeded: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
