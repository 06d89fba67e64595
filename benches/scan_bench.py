#!/usr/bin/env python3
"""Benchmarks `idfed scan` against what an administrator would run instead,
`find PATH -printf '%U %G %s\\n' | sort | uniq -c`, on the same tree in the same run:

- local: a tree of 150,000 entries on the local disk, page cache warm; runs alternate, the
  median wall time of each is compared;
- latency: a smaller tree served by benches/slowfs.py, a FUSE passthrough that answers each
  lookup, getattr and readdir after a fixed delay (an NFS export's round trip), nothing cached.

    benches/scan_bench.py [--runs N] [--work DIR] [--entries N] [--slow-entries N] [--delay-ms MS]

Prints a Markdown table (BENCHMARKS.md quotes it). Needs root (chown, FUSE mount), libfuse3 and
the `mfusepy` module (pip).
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def build_tree(path, entries, seed=7):
    """A share-like tree of `entries` entries (the path itself included): team directories of
    project directories of files, owners mostly a handful of users and groups, some container ids."""
    marker = os.path.join(path, ".count")
    if os.path.exists(marker) and open(marker).read() == str(entries):
        return
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    rng = random.Random(seed)
    made = 2  # the path itself and .count
    per_dir = 99
    d = 0
    while made < entries:
        team = os.path.join(path, f"team{d // 50:03d}")
        if not os.path.isdir(team):
            os.mkdir(team)
            made += 1
        proj = os.path.join(team, f"p{d % 50:02d}")
        os.mkdir(proj)
        made += 1
        uid = rng.choice([1005, 1006, 1007, 1008, 2000 + d % 11, 101005, 4242])
        gid = rng.choice([3000, 3001, 5000, 103000])
        os.chown(proj, uid, gid)
        for i in range(min(per_dir, entries - made)):
            f = os.path.join(proj, f"f{i:03d}")
            with open(f, "wb") as fh:
                fh.truncate(rng.randrange(0, 1 << 20))
            os.chown(f, uid if rng.random() < 0.9 else 1006, gid)
            made += 1
        d += 1
    with open(os.path.join(path, ".count"), "w") as fh:
        fh.write(str(entries))


def write_config(work, share_path):
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "passwd"), "w") as f:
        f.write("root:x:0:0::/root:/bin/sh\n")
        for name, uid in [("alice", 1005), ("bob", 1006), ("carol", 1007), ("dave", 1008)]:
            f.write(f"{name}:x:{uid}:{uid}::/home/{name}:/bin/sh\n")
    with open(os.path.join(work, "group"), "w") as f:
        f.write("root:x:0:\nresearch:x:3000:carol,dave\nstaff:x:3001:bob\nlab:x:5000:\n")
    conf = os.path.join(work, "idfed.toml")
    with open(conf, "w") as f:
        f.write(
            f'[source.nas]\ntype = "files"\npasswd = "{work}/passwd"\ngroup = "{work}/group"\n\n'
            f'[share.bench]\nsource = "nas"\npath = "{share_path}"\nusers = ["alice"]\n'
            f'groups = ["research"]\nuids = ["2000-2010"]\n'
        )
    return conf


def timed(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def race(label, path, conf, runs):
    find = ["bash", "-c", f"find '{path}' -printf '%U %G %s\\n' | sort | uniq -c"]
    idfed = [os.path.join(target_dir(), "release/idfed"), "-c", conf, "-q", "scan", "bench", "--format", "csv"]
    # Both give the same total.
    out = subprocess.run(find, check=True, capture_output=True, text=True).stdout
    find_entries = sum(int(line.split()[0]) for line in out.splitlines())
    csv = subprocess.run(idfed, check=True, capture_output=True, text=True).stdout
    scan_entries = sum(int(l.split(",")[6]) for l in csv.splitlines()[1:] if l.startswith("uid,"))
    assert find_entries == scan_entries, (find_entries, scan_entries)
    times = {"find": [], "scan": []}
    for _ in range(runs):
        times["find"].append(timed(find))
        times["scan"].append(timed(idfed))
    f, s = statistics.median(times["find"]), statistics.median(times["scan"])
    return f"| {label} | {find_entries:,} | {f:.3f} s | {s:.3f} s | {s / f:.2f}x |"


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--work", default="/var/tmp/idfed-scan-bench")
    ap.add_argument("--entries", type=int, default=150_000)
    ap.add_argument("--slow-entries", type=int, default=5_000)
    ap.add_argument("--delay-ms", type=float, default=1.0)
    args = ap.parse_args()

    rows = []
    local = os.path.join(args.work, "local")
    build_tree(local, args.entries)
    conf = write_config(os.path.join(args.work, "local-etc"), local)
    rows.append(race("local disk, warm cache", local, conf, args.runs))

    slow_src = os.path.join(args.work, "slow-src")
    build_tree(slow_src, args.slow_entries)
    mnt = os.path.join(args.work, "slow-mnt")
    os.makedirs(mnt, exist_ok=True)
    server = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "benches/slowfs.py"), slow_src, mnt, str(args.delay_ms)],
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if os.path.ismount(mnt):
                break
            time.sleep(0.1)
        conf = write_config(os.path.join(args.work, "slow-etc"), mnt)
        rows.append(race(f"FUSE, {args.delay_ms:g} ms per request", mnt, conf, max(1, args.runs // 2)))
    finally:
        subprocess.run(["umount", mnt])
        server.wait()

    print("| tree | entries | find \\| sort \\| uniq -c | idfed scan | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for r in rows:
        print(r)


if __name__ == "__main__":
    main()
