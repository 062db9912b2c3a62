#!/usr/bin/env bash
# Installs strata (and kube-test-server, the local Kubernetes API server used by the
# quickstart and the tests) from this clone into cargo's bin directory.
set -euo pipefail
cd "$(dirname "$0")"
cargo install --locked --path cli --root "${STRATA_INSTALL_ROOT:-$HOME/.cargo}" --force
cargo install --locked --path tests/kube-test-server --root "${STRATA_INSTALL_ROOT:-$HOME/.cargo}" --force
bin="${STRATA_INSTALL_ROOT:-$HOME/.cargo}/bin"
echo "Installed $("$bin/strata" version) to $bin"
case ":$PATH:" in
  *":$bin:"*) ;;
  *) echo "Add $bin to your PATH: export PATH=\"$bin:\$PATH\"" ;;
esac
