#!/usr/bin/env bash
# Builds the Debian package target/debian/idfed_<version>-1_<arch>.deb:
#   1. the release binary (cargo build --release --locked);
#   2. its man pages and bash/zsh/fish completions, rendered by that binary from the clap
#      definitions (`idfed man --out`, `idfed completions SHELL`) into target/release/assets/;
#   3. `cargo deb --no-build --strip` (the release profile keeps line tables for profiling; the
#      package does not), which packs them with the assets listed in Cargo.toml
#      ([package.metadata.deb]): /usr/bin/idfed, the systemd units, the man pages (idfed.1, idfed-COMMAND.1, idfed.toml.5), the completions
#      and the example configuration (under /usr/share/doc/idfed/examples/: the configuration
#      itself is the cluster's, /etc/pve/idfed/idfed.toml, written once by the administrator).
#      cargo-deb also adds the maintainer scripts (deploy/debian/postrm and the deb-systemd-helper
#      snippets for the units) and deploy/debian/changelog as changelog.Debian.gz.
# Arguments go to `cargo deb` (`--deb-revision 2`: the same build as a newer package, which is how
# .ci/run tries an upgrade). Needs cargo-deb (`cargo install cargo-deb --locked`). Prints the
# package's path on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked >&2
bin="$target/release/idfed"
assets="$target/release/assets"
rm -rf "$assets"
mkdir -p "$assets/completions"
# Its "wrote" lines and any error go to stderr; stdout stays the package's path.
"$bin" man --out "$assets/man"
# Debian policy: man pages compressed, reproducibly (no name, no time stamp).
gzip -9n "$assets"/man/*.1 "$assets"/man/*.5
"$bin" completions bash >"$assets/completions/idfed.bash"
"$bin" completions zsh >"$assets/completions/_idfed"
"$bin" completions fish >"$assets/completions/idfed.fish"
if ! cargo deb --no-build --strip "$@" >"$assets/cargo-deb.log" 2>&1; then
  cat "$assets/cargo-deb.log" >&2
  echo "build-deb: cargo deb failed" >&2
  exit 1
fi
# cargo deb prints the package's path last.
tail -n 1 "$assets/cargo-deb.log"
