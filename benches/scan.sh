#!/usr/bin/env bash
# Benchmarks `idfed scan` against `find PATH -printf '%U %G %s\n' | sort | uniq -c` on the same
# trees in the same run: 150,000 entries on the local disk, and a smaller tree behind a FUSE
# passthrough with a per-request delay (benches/slowfs.py, standing in for NFS). Run by hand as
# root, not in CI. Prints the table BENCHMARKS.md quotes.
#   benches/scan.sh [--runs N] [--work DIR] [--entries N] [--slow-entries N] [--delay-ms MS]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
python3 -c 'import mfusepy' 2>/dev/null || python3 -m pip install --quiet mfusepy
exec python3 benches/scan_bench.py "$@"
