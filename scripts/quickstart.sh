#!/usr/bin/env bash
# The quickstart: strata's main job on the embedded platform example (services, Istio mesh with a
# canary, scaling, a feature flag, SLOs and alerts, two CDNs), with local state, against the
# sandbox's local API servers: no cluster or cloud account needed.
#   sandbox up -> init -> validate -> plan -> apply -> canary step -> drift -> destroy -> down
set -euo pipefail
bin="${STRATA_INSTALL_ROOT:-$HOME/.cargo}/bin"
export PATH="$bin:$PATH"
export STRATA_SANDBOX_DIR="${STRATA_SANDBOX_DIR:-$(mktemp -d)/sandbox}"
work=$(mktemp -d)
started=$(date +%s%N)
step() {
  local ms=$(( ($(date +%s%N) - started) / 1000000 ))
  printf '\n== %s (at %d.%01ds)\n' "$1" $((ms / 1000)) $((ms % 1000 / 100))
}

step "strata sandbox up"
strata sandbox up
trap 'strata sandbox down >/dev/null 2>&1 || true' EXIT
eval "$(strata sandbox env)"
cd "$work"
step "strata init --example platform (in $work)"
strata init --example platform
step "strata validate"
strata validate
step "strata plan"
strata plan
step "strata apply"
strata apply --auto-approve
step "strata plan (again: nothing to do)"
strata plan --detailed-exitcode
step "the canary step: api v2 from 10% to 25%, one line"
sed -i.bak 's/split: { v1: 90, v2: 10 }/split: { v1: 75, v2: 25 }/' strata.yaml
strata plan
strata apply --auto-approve
step "strata drift"
strata drift
step "strata destroy"
strata destroy --auto-approve
step "strata sandbox down"
strata sandbox down
trap - EXIT
step "done"
