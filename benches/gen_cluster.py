#!/usr/bin/env python3
"""Writes a synthetic Proxmox VE cluster for benchmarking `idfed plan`.

The tree it writes under OUT:

    OUT/idfed.toml                  40 shares over one `files` source
    OUT/passwd, OUT/group           USERS users, GROUPS groups
    OUT/cluster/pve/storage.cfg     an `nfs:` storage per even share (odd shares give a `path`)
    OUT/cluster/pve/nodes/pveNN/lxc/VMID.conf
    OUT/root/etc/pve -> ../../cluster/pve, OUT/root/etc/subuid, OUT/root/etc/subgid
    OUT/files.txt                   every file `idfed plan` reads (for the read-only baseline)

Run `idfed -c OUT/idfed.toml --root OUT/root --node pve01 plan`.

Everything is drawn from a seeded generator: the same arguments write the same bytes.

Two shapes (`--shape`). `teams` (the default), chosen to look like a young site:
- uids are handed out in order (10000, 10001, ...), so a team's members are mostly a run of
  consecutive uids plus a few people who joined later or moved teams;
- a share is owned by 1-3 team groups and 0-3 single users.
`sparse`, a long-lived directory (issue 13): uids scattered over the whole range (60% in
10000-65535, 25% in 165536-999999, 15% in 1,000,000-4,999,999; none in the base range
100000-165535), groups of 20-200 members drawn from all users, a share owned by 1-2 such groups
and 0-3 single users, and every CT's shares chosen so that it passes 100-600 uids through: far
over the kernel's 340 extents, so `over_budget = "expose"` (set in its idfed.toml) merges them.
Both: primary gids are one of 50 department groups; every CT bind-mounts 1-3 shares (the share
root or a subdirectory; some read-only); one in ten has a snapshot section, one in twenty is
privileged, one in ten already carries the default map written out as `lxc.idmap` lines.
"""

import argparse
import os
import random
import shutil

UID0 = 10000
GID0 = 5000
DEPARTMENTS = 50


def users_and_groups(rng, users, groups):
    """Passwd lines, group lines, and each group's members (uids)."""
    passwd = [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
    ]
    for i in range(users):
        uid = UID0 + i
        gid = GID0 + rng.randrange(DEPARTMENTS)
        passwd.append(f"u{i:06d}:x:{uid}:{gid}:User {i}:/home/u{i:06d}:/bin/bash")
    members = []
    for g in range(groups):
        if g < DEPARTMENTS:
            # Departments are primary groups: their members are implied, not listed.
            members.append([])
            continue
        start = rng.randrange(users - 40)
        run = list(range(start, start + rng.randint(15, 30)))
        extra = [rng.randrange(users) for _ in range(rng.randint(3, 8))]
        members.append(sorted(set(run + extra)))
    group = ["root:x:0:", "daemon:x:1:"]
    for g in range(groups):
        names = ",".join(f"u{i:06d}" for i in members[g])
        group.append(f"g{g:05d}:x:{GID0 + g}:{names}")
    return passwd, group


def sparse_users_and_groups(rng, users, groups):
    """The `sparse` shape's passwd and group lines, each group's members (user indices) and each
    user's uid."""
    uids = set()
    while len(uids) < users:
        r = rng.random()
        if r < 0.60:
            uids.add(rng.randrange(10000, 65536))
        elif r < 0.85:
            uids.add(rng.randrange(165536, 1_000_000))
        else:
            uids.add(rng.randrange(1_000_000, 5_000_000))
    uids = sorted(uids)
    rng.shuffle(uids)
    passwd = [
        "root:x:0:0:root:/root:/bin/bash",
        "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin",
    ]
    for i in range(users):
        gid = GID0 + rng.randrange(DEPARTMENTS)
        passwd.append(f"u{i:06d}:x:{uids[i]}:{gid}:User {i}:/home/u{i:06d}:/bin/bash")
    members = []
    for g in range(groups):
        if g < DEPARTMENTS:
            members.append([])
            continue
        members.append(sorted(rng.sample(range(users), rng.randint(20, 200))))
    group = ["root:x:0:", "daemon:x:1:"]
    for g in range(groups):
        names = ",".join(f"u{i:06d}" for i in members[g])
        group.append(f"g{g:05d}:x:{GID0 + g}:{names}")
    return passwd, group, members, uids


def config(rng, shares, users, groups, shape="teams"):
    lines = [
        "# A synthetic cluster written by benches/gen_cluster.py.",
        "[cluster]",
        'pve_root = "/etc/pve"',
    ]
    if shape == "sparse":
        lines.append('over_budget = "expose"')
    lines += [
        "",
        "[source.site]",
        'type = "files"',
        'passwd = "passwd"',
        'group = "group"',
    ]
    owners = []
    for s in range(shares):
        team = rng.sample(range(DEPARTMENTS, groups), rng.randint(1, 3 if shape == "teams" else 2))
        single = rng.sample(range(users), rng.randint(0, 3))
        owners.append((team, single))
        lines += ["", f"[share.share{s:02d}]", 'source = "site"']
        if s % 2 == 0:
            lines.append(f'storage = "share{s:02d}"')
        else:
            lines.append(f'path = "/mnt/pve/share{s:02d}"')
        lines.append("groups = [" + ", ".join(f'"g{g:05d}"' for g in team) + "]")
        if single:
            lines.append("users = [" + ", ".join(f'"u{u:06d}"' for u in single) + "]")
    return lines, owners


def storage_cfg(shares):
    out = [
        "dir: local",
        "\tpath /var/lib/vz",
        "\tcontent iso,vztmpl,backup",
        "",
        "lvmthin: local-lvm",
        "\tthinpool data",
        "\tvgname pve",
        "\tcontent rootdir,images",
    ]
    for s in range(0, shares, 2):
        out += [
            "",
            f"nfs: share{s:02d}",
            f"\texport /export/share{s:02d}",
            f"\tpath /mnt/pve/share{s:02d}",
            "\tserver 192.0.2.10",
            "\tcontent images,rootdir",
            "\toptions vers=4.2",
        ]
    return out


def ct_config(rng, vmid, pick):
    """A CT's config; `pick()` draws the shares it mounts (after the lines before them)."""
    privileged = rng.random() < 0.05
    lines = []
    if rng.random() < 0.3:
        lines.append(f"#CT {vmid}%0A- owner%3A team {rng.randrange(100)}")
    lines += [
        "arch: amd64",
        f"cores: {rng.choice([1, 2, 4])}",
        "features: nesting=1",
        f"hostname: ct{vmid}",
        f"memory: {rng.choice([512, 1024, 2048, 4096])}",
    ]
    for k, s in enumerate(pick()):
        sub = rng.choice(["", f"/ct{vmid}", "/data", "/home"])
        ro = ",ro=1" if rng.random() < 0.15 else ""
        lines.append(f"mp{k}: /mnt/pve/share{s:02d}{sub},mp=/srv/share{s:02d}{ro},shared=1")
    mac = f"BC:24:11:{(vmid >> 16) & 0xFF:02X}:{(vmid >> 8) & 0xFF:02X}:{vmid & 0xFF:02X}"
    lines += [
        f"net0: name=eth0,bridge=vmbr0,firewall=1,hwaddr={mac},ip=dhcp,type=veth",
        "ostype: debian",
        f"rootfs: local-lvm:vm-{vmid}-disk-0,size=8G",
        "swap: 512",
    ]
    if not privileged:
        lines.append("unprivileged: 1")
        if rng.random() < 0.1:
            for kind in "ug":
                lines.append(f"lxc.idmap: {kind} 0 100000 65536")
    if rng.random() < 0.1:
        lines += [
            "",
            "[before-upgrade]",
            "arch: amd64",
            f"hostname: ct{vmid}",
            "ostype: debian",
            f"rootfs: local-lvm:vm-{vmid}-disk-0,size=8G",
            "snaptime: 1764000000",
        ]
        if not privileged:
            lines.append("unprivileged: 1")
    return lines


def write(path, lines):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def sparse_picker(rng, shares, owners, members, uids):
    """Draws 1-3 shares whose owners come to 100-600 uids (the last draw after 100 tries)."""
    share_uids = []
    for team, single in owners:
        ids = {uids[u] for g in team for u in members[g]}
        ids.update(uids[u] for u in single)
        share_uids.append(ids)

    def pick():
        for _ in range(100):
            chosen = sorted(rng.sample(range(shares), rng.randint(1, 3)))
            if 100 <= len(set().union(*(share_uids[s] for s in chosen))) <= 600:
                break
        return chosen

    return pick


def generate(out, cts, nodes=20, shares=40, users=50000, groups=2000, seed=8, shape="teams"):
    rng = random.Random(seed)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    if shape == "teams":
        passwd, group = users_and_groups(rng, users, groups)
    else:
        passwd, group, members, uids = sparse_users_and_groups(rng, users, groups)
    write(os.path.join(out, "passwd"), passwd)
    write(os.path.join(out, "group"), group)
    lines, owners = config(rng, shares, users, groups, shape)
    write(os.path.join(out, "idfed.toml"), lines)
    if shape == "teams":

        def pick():
            return sorted(rng.sample(range(shares), rng.randint(1, 3)))

    else:
        pick = sparse_picker(rng, shares, owners, members, uids)
    pve = os.path.join(out, "cluster", "pve")
    os.makedirs(pve)
    write(os.path.join(pve, "storage.cfg"), storage_cfg(shares))
    files = [os.path.join(out, "passwd"), os.path.join(out, "group")]
    node_names = [f"pve{n + 1:02d}" for n in range(nodes)]
    for name in node_names:
        os.makedirs(os.path.join(pve, "nodes", name, "lxc"))
    for i in range(cts):
        vmid = 100 + i
        path = os.path.join(pve, "nodes", node_names[i % nodes], "lxc", f"{vmid}.conf")
        write(path, ct_config(rng, vmid, pick))
        files.append(path)
    etc = os.path.join(out, "root", "etc")
    os.makedirs(etc)
    os.symlink("../../cluster/pve", os.path.join(etc, "pve"))
    for f in ("subuid", "subgid"):
        write(os.path.join(etc, f), ["root:100000:65536"])
    write(os.path.join(out, "files.txt"), files)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", help="directory to write (replaced when it exists)")
    p.add_argument("--cts", type=int, default=5000)
    p.add_argument("--nodes", type=int, default=20)
    p.add_argument("--shares", type=int, default=40)
    p.add_argument("--users", type=int, default=50000)
    p.add_argument("--groups", type=int, default=2000)
    p.add_argument("--seed", type=int, default=8)
    p.add_argument("--shape", choices=["teams", "sparse"], default="teams")
    a = p.parse_args()
    generate(a.out, a.cts, a.nodes, a.shares, a.users, a.groups, a.seed, a.shape)


if __name__ == "__main__":
    main()
