#!/usr/bin/env bash
# `make test`: the whole suite. With no arguments, the fault suite's short form (tests/chaos,
# mostly waiting on outages and recoveries) runs in its own pytest process beside the rest, on
# services it starts itself; its report follows the main one. Arguments go to one plain pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}

if [[ $# -gt 0 ]]; then
  exec "$PYTHON" -m pytest "$@"
fi

log=$(mktemp -t cxr-chaos-XXXXXX.log)
"$PYTHON" -m pytest tests/chaos >"$log" 2>&1 &
chaos_pid=$!
trap 'kill "$chaos_pid" 2>/dev/null; rm -f "$log"' EXIT

"$PYTHON" -m pytest --ignore=tests/chaos
main_rc=$?
wait "$chaos_pid"
chaos_rc=$?
echo
echo "=============================== tests/chaos (run beside the rest) ==============================="
cat "$log"
if [[ $main_rc -ne 0 ]]; then exit "$main_rc"; fi
exit "$chaos_rc"
