#!/usr/bin/env bash
# The map engine's micro-benchmark (issue 13): `idmap::build` per over-budget policy on 2,000 and
# 50,000 sparse ids of three shapes, against a sort-and-render baseline measured in the same run.
#   benches/map_engine.sh [expose|unmap|all [MAX_IDS [SETS [MAX_EXTENTS]]]]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --example map_engine
exec "${CARGO_TARGET_DIR:-target}/release/examples/map_engine" "$@"
