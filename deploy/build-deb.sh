#!/usr/bin/env bash
# Builds the Debian package target/debian/idfed_<version>-1_<arch>.deb:
#   1. the release binary (cargo build --release --locked);
#   2. its man pages and bash/zsh/fish completions, rendered by that binary from the clap
#      definitions (`idfed man --out`, `idfed completions SHELL`) into target/release/assets/;
#   3. `if ! cargo deb --no-build >"$assets/cargo-deb.log" 2>&1; then
  cat "$assets/cargo-deb.log" >&2
  echo "build-deb: cargo deb failed" >&2
  exit 1
fi
# cargo deb prints the package's path last.
tail -n 1 "$assets/cargo-deb.log"
