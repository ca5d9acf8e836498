#!/usr/bin/env bash
# The whole suite, layer by layer, stopping at the first failing layer and printing each layer's time.
# `make test` runs it all; `make lint` runs the static layers only (--static-only).
set -uo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH=src:.
BIN=.venv/bin

names=()
times=()
summary() {
  echo
  echo "layer         seconds"
  for i in "${!names[@]}"; do printf "%-13s %7s\n" "${names[$i]}" "${times[$i]}"; done
}

layer() {
  local name=$1
  shift
  echo
  echo "==> $name: $*"
  local start=$SECONDS
  "$@"
  local rc=$?
  names+=("$name")
  times+=("$((SECONDS - start))")
  if ((rc != 0)); then
    summary
    echo "FAILED at layer '$name' (exit $rc)" >&2
    exit "$rc"
  fi
}

started=$SECONDS
layer lint bash -c "$BIN/ruff check . && $BIN/ruff format --check ."
layer imports "$BIN/lint-imports"
layer types "$BIN/mypy"
layer web bash -c "cd web && npx tsc --noEmit"
if [[ "${1:-}" == "--static-only" ]]; then
  summary
  exit 0
fi
layer services "$BIN/python" -m tests.services
layer unit "$BIN/pytest" tests/unit --cov=domain --cov-branch --cov-report=term --cov-fail-under=95
layer sqlite "$BIN/pytest" tests/sqlite
layer integration "$BIN/pytest" tests/integration
layer e2e "$BIN/pytest" tests/e2e
layer browser "$BIN/pytest" tests/browser
summary
echo "all layers passed in $((SECONDS - started)) s"
