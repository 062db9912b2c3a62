#!/usr/bin/env bash
# The quickstart: strata's main job on the embedded example, with local state, against a local
# Kubernetes API server (no cluster or cloud account needed).
#   init -> validate -> plan -> apply -> plan again (no changes) -> drift check
set -euo pipefail
bin="${STRATA_INSTALL_ROOT:-$HOME/.cargo}/bin"
export PATH="$bin:$PATH"
work=$(mktemp -d)
log="$work/kube-test-server.log"
kube-test-server --addr 127.0.0.1:0 > "$log" 2>&1 &
server_pid=$!
trap 'kill $server_pid 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q "listening on" "$log" 2>/dev/null && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$log" | head -1)
[ -n "$url" ] || { echo "kube-test-server did not start:"; cat "$log"; exit 1; }
echo "== local Kubernetes API server at $url; working in $work"
cd "$work"
strata init --server "$url"
strata validate
echo "== strata plan"
strata plan
echo "== strata apply"
strata apply --auto-approve
echo "== strata plan (again: nothing to do)"
strata plan --detailed-exitcode
echo "== strata drift"
strata drift
echo "== state"
strata state list
