#!/usr/bin/env bash
# Runs the whole test suite. Sets up what the tests need first (idempotent):
#   - a Python venv at .venv with moto (S3/CloudFront/Route 53 emulator) and the schema
#     validators (kubernetes-validate, jsonschema, PyYAML);
#   - kubectl must be on PATH (the kube-test-server conformance test drives the real one);
#   - promtool and amtool (Debian prometheus, prometheus-alertmanager), installed when missing;
#   - Node.js, and miniflare (npm, pinned by tests/miniflare/package-lock.json) installed into
#     tests/miniflare/node_modules: a Cloudflare test runs the uploaded Worker in it.
# Tests start their own servers (moto_server, kube-test-server, cloudflare-test-server,
# azure-test-server) on random
# loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
# Install only when the requirements changed since the last install.
stamp=.venv/.requirements.sha
reqs=(tests/requirements.txt)
[ -f tests/validate/requirements.txt ] && reqs+=(tests/validate/requirements.txt)
want=$(cat "${reqs[@]}" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check $(printf -- '-r %s ' "${reqs[@]}")
  echo "$want" > "$stamp"
fi

export STRATA_PYTHON="$root/.venv/bin/python"
export STRATA_MOTO_SERVER="$root/.venv/bin/moto_server"
# The official API documents, shipped in the repository (sandbox/README.md says where from).
export STRATA_API_SPECS="${STRATA_API_SPECS:-$root/sandbox/api-specs}"
export PATH="$root/.venv/bin:$PATH"

if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is not installed; the Kubernetes conformance tests need it (Debian: apt-get install kubernetes-client)." >&2
  exit 1
fi

# promtool and amtool (Debian `prometheus`, `prometheus-alertmanager`) are the oracles of the
# observability tests; install them when missing, as kubectl's absence is not tolerated either.
missing=()
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v amtool >/dev/null 2>&1 || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (promtool, amtool) for the observability tests" >&2
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo_cmd env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "node/npm are not installed; the Cloudflare Worker test runs miniflare (Debian: apt-get install nodejs npm)." >&2
  exit 1
fi
# Install miniflare only when the lock file changed since the last install.
mf_stamp=tests/miniflare/node_modules/.lock.sha
mf_want=$(sha256sum tests/miniflare/package-lock.json | cut -d' ' -f1)
if [ "$(cat "$mf_stamp" 2>/dev/null)" != "$mf_want" ]; then
  npm ci --prefix tests/miniflare --no-audit --no-fund --loglevel=error
  echo "$mf_want" > "$mf_stamp"
fi

# The `test-provider` feature builds the in-memory test provider into the binary the CLI tests
# drive; release builds (install.sh) leave it out.
cargo test --workspace --locked --features strata-cli/test-provider "$@"
