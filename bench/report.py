"""The benchmark's tables (Markdown), target verdicts and chart (PNG)."""

from __future__ import annotations

import dataclasses
import pstats
import statistics
from pathlib import Path
from typing import Any

from scenarios import CLIENTS, RSS_LIMIT, Scenario, Target

BEGIN = "<!-- results:begin (bench/run rewrites this section) -->"
END = "<!-- results:end -->"


@dataclasses.dataclass
class Summary:
    markdown: str
    verdicts: list[tuple[str, str, float | None, bool | None]]


def median(slot: dict[str, Any]) -> float | None:
    return statistics.median(slot["values"]) if slot["values"] else None


def ratio(by_client: dict[str, Any], target: Target) -> tuple[float | None, str]:
    mine = median(by_client.get(target.client, {"values": []}))
    bases = (target.baseline,) if isinstance(target.baseline, str) else target.baseline
    found = [(median(by_client[b]), b) for b in bases if b in by_client and by_client[b]["values"]]
    if mine is None or not found:
        return None, ""
    best, name = max((v, n) for v, n in found if v is not None)
    return mine / best, name


def summarize(document: dict[str, Any], scenarios: list[Scenario], quick: bool) -> Summary:
    info = document["info"]
    results = document["results"]
    lines = []
    versions = ", ".join(f"{k} {v}" for k, v in info["versions"].items())
    m = info["machine"]
    lines += [
        f"Run of {info['date']}: `{info['command']}`, {info['rounds']} round(s), "
        f"{info['minutes']} min; {m['cpu']}, {m['cores']} cores, {m['system']} "
        f"(load average at the start: {m['load']}).",
        "",
        f"Versions: {versions}.",
        "",
    ]
    verdicts: list[tuple[str, str, float | None, bool | None]] = []
    target_rows = ["| scenario | target | measured | verdict |", "|---|---|---|---|"]
    for scenario in scenarios:
        by_client = results.get(scenario.key, {})
        if not by_client:
            continue
        lines.append(
            f"**({scenario.key}) {scenario.title}**"
            + (" (nghttpd)" if scenario.server == "nghttpd" else "")
        )
        lines.append("")
        extra = (
            " | peak RSS growth"
            if scenario.kind == "download"
            else (" | connections" if scenario.kind == "threads" else "")
        )
        lines.append(f"| client | median {scenario.unit} | min - max | runs{extra} |")
        lines.append("|---|---|---|---|" + ("---|" if extra else ""))
        for name, slot in by_client.items():
            label = CLIENTS[name].label or name
            if not slot["values"]:
                error = slot["errors"][0] if slot["errors"] else "not run"
                lines.append(f"| {label} | failed: {error[:120]} | | 0 |" + (" |" if extra else ""))
                continue
            cell = (
                f"| {label} | {median(slot):.0f} | {min(slot['values']):.0f} - "
                f"{max(slot['values']):.0f} | {len(slot['values'])}"
            )
            if scenario.kind == "download":
                rss = [r for r in slot["rss"] if r is not None]
                cell += f" | {max(rss) / 2**20:.0f} MiB" if rss else " | "
            elif scenario.kind == "threads":
                conns = slot["connections"]
                cell += f" | {min(conns)} - {max(conns)}" if conns else " | "
            lines.append(cell + " |")
        lines.append("")
        for target in scenario.targets:
            value, base = ratio(by_client, target)
            met = None if value is None else value >= target.ratio
            verdicts.append((scenario.key, target.describe(), value, met))
            shown = (
                "n/a"
                if value is None
                else f"{value:.2f}x"
                + (f" (of {base})" if not isinstance(target.baseline, str) else "")
            )
            verdict = "not measured" if met is None else ("met" if met else "missed")
            target_rows.append(f"| ({scenario.key}) | {target.describe()} | {shown} | {verdict} |")
        if scenario.key == "c" and "hyper" in by_client:
            rss = [r for r in by_client["hyper"]["rss"] if r is not None]
            if rss:
                met = max(rss) < RSS_LIMIT
                target_rows.append(
                    f"| (c) | hyper peak RSS growth < 64 MiB | "
                    f"{max(rss) / 2**20:.0f} MiB (max) | "
                    f"{'met' if met else 'missed'} |"
                )
        if scenario.key == "e" and by_client.get("requests+hyper", {}).get("connections"):
            conns = by_client["requests+hyper"]["connections"]
            met = max(conns) == 1
            target_rows.append(
                f"| (e) | requests+hyper on one connection | {max(conns)} "
                f"connection(s) | {'met' if met else 'missed'} |"
            )
    markdown = "\n".join(["### Targets", "", *target_rows, "", "### Tables", "", *lines])
    if quick:
        markdown = "(--quick run: tiny counts, not a measurement)\n\n" + markdown
    return Summary(markdown, verdicts)


def chart(document: dict[str, Any], scenarios: list[Scenario], path: Path) -> None:
    """One panel per scenario: the median of each client, with its min-max spread."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [s for s in scenarios if document["results"].get(s.key)]
    if not shown:
        return
    columns = 2
    rows = (len(shown) + columns - 1) // columns
    figure, axes = plt.subplots(rows, columns, figsize=(11, 2.3 * rows), squeeze=False)
    for ax in axes.flat[len(shown) :]:
        ax.set_visible(False)
    for ax, scenario in zip(axes.flat, shown):
        by_client = document["results"][scenario.key]
        names = [n for n, slot in by_client.items() if slot["values"] and n != "h2load"]
        medians = [statistics.median(by_client[n]["values"]) for n in names]
        lows = [m - min(by_client[n]["values"]) for n, m in zip(names, medians)]
        highs = [max(by_client[n]["values"]) - m for n, m in zip(names, medians)]
        colours = [
            "tab:green"
            if "hyper" in n
            else "tab:gray"
            if n.startswith(("floor", "h2load"))
            else "tab:blue"
            for n in names
        ]
        ax.barh(range(len(names)), medians, xerr=[lows, highs], color=colours, capsize=2)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.invert_yaxis()
        ax.tick_params(axis="x", labelsize=7)
        title = f"({scenario.key}) {scenario.title}"
        if by_client.get("h2load", {}).get("values"):
            # The C reference is 10-50x the Python clients: named, not drawn.
            title += (
                f"\n(h2load: {statistics.median(by_client['h2load']['values']):.0f}, off scale)"
            )
        ax.set_title(title, fontsize=8)
        ax.set_xlabel(scenario.unit + " (median, min-max)", fontsize=7)
    figure.suptitle("hyper benchmark, loopback TLS (higher is better)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=72)
    plt.close(figure)


def update_benchmarks_md(path: Path, markdown: str) -> None:
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{BEGIN}\n\n{markdown}\n\n{END}{tail}")


#: Where a profiled function's own time is counted, by a piece of its file
#: name (the first that matches) or its name for built-in methods.
GROUPS = (
    ("/hyper/contrib/", "hyper.contrib"),
    ("/hyper/pool/", "hyper.pool"),
    ("/hyper/", "hyper (core)"),
    ("/h2/", "h2"),
    ("/jh2/", "jh2"),
    ("/hpack/", "hpack"),
    ("/hyperframe/", "hyperframe"),
    ("/requests/", "requests"),
    ("/niquests/", "niquests"),
    ("/urllib3_future/", "urllib3-future"),
    ("/urllib3/", "urllib3"),
    ("/httpx/", "httpx"),
    ("/httpcore/", "httpcore"),
    ("/h11/", "h11"),
    ("poll", "waiting (poll/select)"),
    ("select", "waiting (poll/select)"),
    ("_ssl.", "TLS read/write"),
    ("/ssl.py", "TLS read/write"),
    ("socket", "TLS read/write"),
    ("logging", "logging"),
    ("threading", "threading/locks"),
    ("lock", "threading/locks"),
    ("hashlib", "sha256 (the check)"),
    ("sha256", "sha256 (the check)"),
)


def profile_groups(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Own time summed by package, largest first."""
    totals: dict[str, float] = {}
    for (filename, _line, name), row in stats.stats.items():  # type: ignore[attr-defined]
        group = group_of(filename if filename != "~" else name)
        totals[group] = totals.get(group, 0.0) + row[2]
    return sorted(totals.items(), key=lambda item: -item[1])


#: The worker's functions whose samples are the scenario's (not its imports).
SCENARIO_FRAMES = ("sequential (", "multiplex (", "work (", "download (", "upload (")


def group_of(where: str) -> str:
    return next((g for piece, g in GROUPS if piece in where), "other (stdlib, bench)")


def py_spy_groups(raw: str) -> tuple[dict[str, int], dict[str, int]]:
    """Samples of py-spy's collapsed stacks, by the package and the function
    of their innermost frame, counting only the scenario's stacks."""
    groups: dict[str, int] = {}
    functions: dict[str, int] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if "/worker.py:" not in stack or not any(f in stack for f in SCENARIO_FRAMES):
            continue
        leaf = stack.rsplit(";", 1)[-1]
        # "name (path:line)": drop the line, keep the file's last three parts.
        name, _, where = leaf.partition(" (")
        path = where.rsplit(":", 1)[0]
        short = "/".join(path.split("/")[-3:])
        group = group_of(path + " " + name)
        groups[group] = groups.get(group, 0) + int(count)
        key = f"{name} ({short})"
        functions[key] = functions.get(key, 0) + int(count)
    return groups, functions
