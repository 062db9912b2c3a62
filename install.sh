#!/usr/bin/env bash
# Installs strata from this clone into cargo's bin directory, and the API specs its sandbox
# validates against into <root>/share/strata/api-specs.
set -euo pipefail
cd "$(dirname "$0")"
root="${STRATA_INSTALL_ROOT:-$HOME/.cargo}"
cargo install --locked --path cli --root "$root" --force
mkdir -p "$root/share/strata"
rm -rf "$root/share/strata/api-specs"
cp -R sandbox/api-specs "$root/share/strata/api-specs"
bin="$root/bin"
echo "Installed $("$bin/strata" version) to $bin (API specs in $root/share/strata/api-specs)"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH: export PATH=\"$bin:\$PATH\"" ;;
esac
