#!/usr/bin/env python3
"""A read-only FUSE passthrough that answers every metadata request after a fixed delay: a
stand-in for an NFS export, where each stat is a round trip to the file server.

    python3 benches/slowfs.py SOURCE MOUNTPOINT DELAY_MS [THREADS]

Lookups, getattr, readdir and readlink of SOURCE are served under MOUNTPOINT, each after
DELAY_MS milliseconds; the kernel caches nothing (entry and attribute timeouts 0), so every
stat of a walk reaches the "server". libfuse's multi-threaded loop serves up to THREADS requests
at once (default 64), as an NFS server serves many requests in flight. Needs `mfusepy` (pip) and
libfuse3. Runs in the foreground: unmount MOUNTPOINT (`umount`) to stop it.
"""

import errno
import os
import sys
import time

import mfusepy as fuse


class Slow(fuse.Operations):
    use_ns = True

    def __init__(self, source, delay):
        self.source = source
        self.delay = delay

    def _path(self, path):
        return os.path.join(self.source, path.lstrip("/"))

    def getattr(self, path, fh=None):
        time.sleep(self.delay)
        try:
            st = os.lstat(self._path(path))
        except OSError as e:
            raise fuse.FuseOSError(e.errno)
        keys = ("st_mode", "st_nlink", "st_uid", "st_gid", "st_size", "st_ino")
        out = {k: getattr(st, k) for k in keys}
        for k in ("st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            out[k.replace("_ns", "")] = getattr(st, k)
        return out

    def readdir(self, path, fh):
        time.sleep(self.delay)
        try:
            return [".", ".."] + os.listdir(self._path(path))
        except OSError as e:
            raise fuse.FuseOSError(e.errno)

    def readlink(self, path):
        time.sleep(self.delay)
        return os.readlink(self._path(path))

    def opendir(self, path):
        if not os.path.isdir(self._path(path)):
            raise fuse.FuseOSError(errno.ENOTDIR)
        return 0


def main():
    source, mountpoint, delay_ms = sys.argv[1], sys.argv[2], float(sys.argv[3])
    threads = int(sys.argv[4]) if len(sys.argv) > 4 else 64
    fuse.FUSE(
        Slow(os.path.abspath(source), delay_ms / 1000.0),
        mountpoint,
        foreground=True,
        nothreads=False,
        ro=True,
        allow_other=True,
        default_permissions=True,
        entry_timeout=0,
        attr_timeout=0,
        negative_timeout=0,
        max_threads=threads,
    )


if __name__ == "__main__":
    main()
