#!/usr/bin/env python3
"""`idfed shift` against `chown -R --from=OLD NEW` run once per moving id, on the same tree.

The tree: 200,000 entries (directories of 100 files, 10 directories per parent), owned by the
CT's root (host 100000) except a share owned by the moving ids: 20 % of the entries, spread over
every directory. Shapes: one moving id (uid and gid 1005: host 101005 -> 1005) and five (1005 to
1009). Before every timed run the tree is put back (untimed) into the old ownership, so both tools
start from the same state with a warm page cache; the runs alternate and the medians are compared.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

BASE = 100000
ROOTFS = "var/lib/vz/images/101/subvol-101-disk-0.subvol"


def conf(ids):
    lines = ["arch: amd64", "rootfs: local:101/subvol-101-disk-0.subvol,size=8G", "unprivileged: 1"]
    for kind in "ug":
        nxt = 0
        for i in ids:
            if i > nxt:
                lines.append(f"lxc.idmap: {kind} {nxt} {BASE + nxt} {i - nxt}")
            lines.append(f"lxc.idmap: {kind} {i} {i} 1")
            nxt = i + 1
        lines.append(f"lxc.idmap: {kind} {nxt} {BASE + nxt} {65536 - nxt}")
    return "\n".join(lines) + "\n"


def build(work, entries, ids):
    root = os.path.join(work, "root")
    if os.path.exists(root):
        shutil.rmtree(root)
    os.makedirs(os.path.join(root, "etc/pve/nodes/pve1/lxc"))
    with open(os.path.join(work, "idfed.toml"), "w") as f:
        f.write('[cluster]\npve_root = "/etc/pve"\n')
    with open(os.path.join(root, "etc/pve/storage.cfg"), "w") as f:
        f.write("dir: local\n\tpath /var/lib/vz\n\tcontent rootdir\n")
    with open(os.path.join(root, "etc/pve/nodes/pve1/lxc/101.conf"), "w") as f:
        f.write(conf(ids))
    rootfs = os.path.join(root, ROOTFS)
    os.makedirs(rootfs)
    made = 1
    dirs = [rootfs]
    n = 0
    while made < entries:
        parent = dirs[n // 10]
        d = os.path.join(parent, f"d{n}")
        os.mkdir(d)
        dirs.append(d)
        made += 1
        for j in range(min(99, entries - made)):
            with open(os.path.join(d, f"f{j}"), "w") as f:
                f.write("x" * (j % 7))
            made += 1
        n += 1
    # Ownership: every fifth entry belongs to a moving id (round robin), the rest to CT root.
    k = 0
    for top, dnames, fnames in os.walk(rootfs):
        for name in [top] + [os.path.join(top, x) for x in dnames + fnames]:
            if name != top and name in dnames:
                pass
            if k % 5 == 4:
                i = ids[(k // 5) % len(ids)]
                os.lchown(name, BASE + i, BASE + i)
            else:
                os.lchown(name, BASE, BASE)
            k += 1
    return root


def chown_all(rootfs, pairs):
    for old, new in pairs:
        subprocess.run(
            ["chown", "-R", "-h", f"--from={old}:{old}", f"{new}:{new}", rootfs], check=True
        )


def timed(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--entries", type=int, default=200_000)
    ap.add_argument("--work", default="/tmp/idfed-shift-bench")
    ap.add_argument("--bin", default="target/release/idfed")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    results = []
    for ids in ([1005], [1005, 1006, 1007, 1008, 1009]):
        root = build(args.work, args.entries, ids)
        rootfs = os.path.join(root, ROOTFS)
        forward = [(BASE + i, i) for i in ids]
        back = [(i, BASE + i) for i in ids]
        chown_cmds = [
            ["chown", "-R", "-h", f"--from={o}:{o}", f"{n}:{n}", rootfs] for o, n in forward
        ]
        idfed = [args.bin, "-c", os.path.join(args.work, "idfed.toml"), "--root", root,
                 "--node", "pve1", "shift", "101"]
        base_t, shift_t = [], []
        for _ in range(args.runs):
            t = time.perf_counter()
            for c in chown_cmds:
                subprocess.run(c, check=True)
            base_t.append(time.perf_counter() - t)
            chown_all(rootfs, back)
            shift_t.append(timed(idfed))
            chown_all(rootfs, back)
        b, s = statistics.median(base_t), statistics.median(shift_t)
        results.append({"moving_ids": len(ids), "entries": args.entries,
                        "chown_s": b, "shift_s": s, "ratio": s / b})
        print(f"{len(ids)} moving id(s), {args.entries:,} entries: chown -R --from x{len(ids)} "
              f"{b * 1000:.0f} ms, idfed shift {s * 1000:.0f} ms, ratio {s / b:.2f}x", flush=True)
    json.dump(results, sys.stdout if False else open(os.path.join(args.work, "results.json"), "w"),
              indent=1)


if __name__ == "__main__":
    main()
