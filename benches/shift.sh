#!/usr/bin/env bash
# Benchmarks `idfed shift` against `chown -R --from=OLD NEW` run once per moving id, on a
# 200,000-entry root filesystem, with one and with five moving ids; prints the ratios that
# BENCHMARKS.md quotes. As root (chown). Run by hand, not in CI.
#   benches/shift.sh [--runs N] [--entries N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec python3 benches/shift_bench.py "$@"
