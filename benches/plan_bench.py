#!/usr/bin/env python3
"""Times `idfed plan` on synthetic clusters against the time to only read the same files.

For each shape (`teams`, `sparse`: see benches/gen_cluster.py) and size it generates a cluster,
then, with a warm page cache, runs alternately:
- the read-only baseline: one `cat` of every CT config plus passwd and group, to /dev/null;
- `idfed plan` (text to /dev/null) over the same tree;
each under GNU time (`/usr/bin/time -f %M`), which gives the peak resident memory of that
command alone (wait4 on a child of this Python process would report this process's high-water
mark when it is larger). Medians of the wall times are reported; plan's figures are also given
as ratios to the baseline of the same run.

Writes RESULTS.json and an SVG plot of time against cluster size, and prints a Markdown table.
"""

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_cluster  # noqa: E402


def measure(argv, cwd=None):
    """Wall seconds and peak RSS in KiB (GNU time's) of one run of argv; fails loudly on a bad
    exit."""
    with tempfile.NamedTemporaryFile("r") as rss, open(os.devnull, "wb") as null:
        timed = ["/usr/bin/time", "-f", "%M", "-o", rss.name, *argv]
        t0 = time.perf_counter()
        p = subprocess.run(timed, cwd=cwd, stdout=null, stderr=subprocess.PIPE, check=False)
        wall = time.perf_counter() - t0
        if p.returncode not in (0, 2):
            sys.exit(f"bench: `{' '.join(argv[:6])} ...` exited {p.returncode}:\n{p.stderr.decode()}")
        return wall, int(rss.read().split()[-1])


def bench_size(idfed, work, shape, cts, runs, regenerate):
    out = os.path.join(work, f"{shape}-{cts}")
    if regenerate or not os.path.exists(os.path.join(out, "files.txt")):
        print(f"bench: generating {cts} CTs ({shape}) under {out}", file=sys.stderr)
        gen_cluster.generate(out, cts, shape=shape)
    with open(os.path.join(out, "files.txt"), encoding="utf-8") as f:
        files = [os.path.relpath(line.strip(), out) for line in f if line.strip()]
    cat = ["cat", *files]
    plan = [
        idfed,
        "-c",
        os.path.join(out, "idfed.toml"),
        "--root",
        os.path.join(out, "root"),
        "--node",
        "pve01",
        "plan",
    ]
    total_bytes = sum(os.path.getsize(os.path.join(out, f)) for f in files)
    # Warm the page cache and the binary.
    measure(cat, cwd=out)
    measure(plan)
    base_t, plan_t, plan_rss, base_rss = [], [], [], []
    for _ in range(runs):
        t, r = measure(cat, cwd=out)
        base_t.append(t)
        base_rss.append(r)
        t, r = measure(plan)
        plan_t.append(t)
        plan_rss.append(r)
    return {
        "shape": shape,
        "cts": cts,
        "files": len(files),
        "bytes": total_bytes,
        "runs": runs,
        "baseline_s": statistics.median(base_t),
        "baseline_rss_kib": max(base_rss),
        "plan_s": statistics.median(plan_t),
        "plan_s_min": min(plan_t),
        "plan_s_max": max(plan_t),
        "plan_rss_kib": max(plan_rss),
    }


def machine():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            mem = int(f.readline().split()[1]) // 1024
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_mib": mem,
        "kernel": platform.release(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def svg(results, path):
    """Log-log plot of plan and baseline wall time against CTs, hand-written SVG."""
    w, h, left, right, top, bottom = 680, 400, 70, 170, 30, 50
    xs = [r["cts"] for r in results]
    ys = [r["plan_s"] for r in results] + [r["baseline_s"] for r in results]
    x0, x1 = math.log10(min(xs)) - 0.1, math.log10(max(xs)) + 0.1
    y0 = math.floor(math.log10(min(ys)))
    y1 = math.ceil(math.log10(max(max(ys), 0.5)))

    def px(x):
        return left + (math.log10(x) - x0) / (x1 - x0) * (w - left - right)

    def py(y):
        return h - bottom - (math.log10(y) - y0) / (y1 - y0) * (h - top - bottom)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
        f'font-family="sans-serif" font-size="12">',
        f'<rect width="{w}" height="{h}" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">idfed plan: wall time against cluster size '
        f"(log-log)</text>",
    ]
    for e in range(y0, y1 + 1):
        for m in (1, 2, 5):
            v = m * 10.0**e
            if v > 10.0**y1:
                break
            y = py(v)
            out.append(
                f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" '
                f'stroke="#ddd"/>'
            )
            label = f"{v:g} s"
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for x in xs:
        out.append(
            f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{h - bottom}" stroke="#eee"/>'
        )
        out.append(
            f'<text x="{px(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{x:,}</text>'
        )
    out.append(
        f'<text x="{(left + w - right) / 2}" y="{h - 12}" text-anchor="middle">'
        f"containers (20 nodes, 40 shares, 50,000 users, 2,000 groups)</text>"
    )
    # The 0.5 s target at 5,000 CTs.
    out.append(
        f'<circle cx="{px(5000):.1f}" cy="{py(0.5):.1f}" r="5" fill="none" stroke="#c00"/>'
    )
    out.append(
        f'<text x="{px(5000) + 8:.1f}" y="{py(0.5) + 4:.1f}" fill="#c00">0.5 s target</text>'
    )
    teams = [r for r in results if r["shape"] == "teams"] or results
    series = [
        ("plan_s", 1, "plan, teams", "#1f5fbf", "", "teams"),
        ("plan_s", 1, "plan, sparse", "#2a9d3a", "", "sparse"),
        ("baseline_s", 1, "cat (read only)", "#888", "", None),
        ("baseline_s", 5, "5 x cat: target", "#c00", ' stroke-dasharray="5,4"', None),
    ]
    for i, (key, factor, name, colour, dash, shape) in enumerate(series):
        rows = [r for r in results if r["shape"] == shape] if shape else teams
        if not rows:
            continue
        pts = " ".join(f"{px(r['cts']):.1f},{py(r[key] * factor):.1f}" for r in rows)
        out.append(
            f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        for r in rows:
            out.append(
                f'<circle cx="{px(r["cts"]):.1f}" cy="{py(r[key] * factor):.1f}" r="3" '
                f'fill="{colour}"/>'
            )
        ly = top + 20 + 20 * i
        out.append(
            f'<line x1="{w - right + 15}" y1="{ly}" x2="{w - right + 35}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"{dash}/>'
        )
        out.append(f'<text x="{w - right + 40}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")


def table(results):
    rows = [
        "| shape | CTs | files | MiB read | baseline (cat) | idfed plan | plan / baseline | "
        "plan growth | peak RSS |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    prev = None
    for r in results:
        growth = "-"
        if prev and prev["shape"] == r["shape"]:
            growth = (
                f"{r['plan_s'] / prev['plan_s']:.2f}x for {r['cts'] / prev['cts']:.0f}x CTs"
            )
        rows.append(
            f"| {r['shape']} | {r['cts']:,} | {r['files']:,} | {r['bytes'] / 2**20:.1f} | "
            f"{r['baseline_s'] * 1000:.1f} ms | {r['plan_s'] * 1000:.1f} ms | "
            f"{r['plan_s'] / r['baseline_s']:.1f}x | {growth} | "
            f"{r['plan_rss_kib'] / 1024:.1f} MiB |"
        )
        prev = r
    return "\n".join(rows)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--idfed", default=os.path.join(here, "..", "target", "release", "idfed"))
    p.add_argument("--work", default="/tmp/idfed-bench", help="where clusters are generated")
    p.add_argument("--sizes", default="500,5000,20000")
    p.add_argument("--shapes", default="teams,sparse")
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--regenerate", action="store_true")
    p.add_argument("--json", default=os.path.join(here, "results.json"))
    p.add_argument("--svg", default=os.path.join(here, "plan-time.svg"))
    a = p.parse_args()
    results = []
    sizes = [int(s) for s in a.sizes.split(",")]
    for shape, cts in ((shape, cts) for shape in a.shapes.split(",") for cts in sizes):
        r = bench_size(os.path.abspath(a.idfed), a.work, shape, cts, a.runs, a.regenerate)
        print(
            f"bench: {shape}, {cts} CTs: plan {r['plan_s'] * 1000:.1f} ms, "
            f"cat {r['baseline_s'] * 1000:.1f} ms, rss {r['plan_rss_kib'] / 1024:.1f} MiB",
            file=sys.stderr,
        )
        results.append(r)
    with open(a.json, "w", encoding="utf-8") as f:
        json.dump({"machine": machine(), "results": results}, f, indent=2)
        f.write("\n")
    svg(results, a.svg)
    print(table(results))


if __name__ == "__main__":
    main()
