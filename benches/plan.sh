#!/usr/bin/env bash
# Benchmarks `idfed plan` on synthetic clusters of both shapes (teams, sparse) of 500, 5,000 and
# 20,000 CTs against a `cat` of the same files, peak RSS by GNU time; writes benches/results.json
# and benches/plan-time.svg and prints the table that BENCHMARKS.md quotes. Run by hand, not in CI.
#   benches/plan.sh [--runs N] [--sizes 500,5000] [--shapes teams,sparse] [--work DIR] [--regenerate]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
exec python3 benches/plan_bench.py --idfed "${CARGO_TARGET_DIR:-target}/release/idfed" "$@"
