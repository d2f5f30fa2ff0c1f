#!/usr/bin/env bash
# The main job on the embedded default, end to end on 127.0.0.1: validate the shipped config,
# start the upstream SIMULATOR and the embedded gateway, apply the dev environment to it, show
# that a second plan is empty, send requests through the gateway, and print its metrics.
# Everything it starts is stopped when it exits.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export CONTROLPLANE_GATEWAY_TOKEN="${CONTROLPLANE_GATEWAY_TOKEN:-$($BIN/python -c 'import secrets; print(secrets.token_urlsafe(24))')}"
LOGS=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

wait_up() {  # URL NAME
  for _ in $(seq 100); do
    if $BIN/python -c "import httpx,sys; sys.exit(httpx.get('$1/healthz').status_code != 200)" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$2 did not start; its log:" >&2; cat "$LOGS/$2.log" >&2; exit 1
}

echo "== 1. validate the config in git"
$BIN/controlplane schemas --check
$BIN/controlplane validate

echo "== 2. start the upstream simulator (:8101) and the embedded gateway (:4000)"
$BIN/controlplane upstream-sim --port 8101 --ttft 0.05 --tpot 0.01 > "$LOGS/simulator.log" 2>&1 & pids+=($!)
$BIN/controlplane gateway serve --port 4000 > "$LOGS/gateway.log" 2>&1 & pids+=($!)
wait_up http://127.0.0.1:8101 simulator
wait_up http://127.0.0.1:4000 gateway

echo "== 3. apply environments/dev to the live gateway"
$BIN/controlplane apply --env dev --auto-approve

echo "== 4. plan again: nothing left to do"
$BIN/controlplane plan --env dev --detailed-exitcode

echo "== 5. requests through the gateway (the second carries an e-mail address to redact)"
$BIN/python - <<'PY'
import httpx
for content in ("Hello there", "My address is jane@example.com"):
    r = httpx.post("http://127.0.0.1:4000/v1/chat/completions", timeout=30, json={
        "model": "chat", "messages": [{"role": "user", "content": content}]})
    answer = r.json()["choices"][0]["message"]["content"]
    print(f"  {r.status_code} via {r.headers['x-controlplane-model']}: {answer[:60]}...")
PY

echo "== 6. the gateway's metrics"
$BIN/python -c "import httpx; print(httpx.get('http://127.0.0.1:4000/metrics').text)" \
  | grep -E '^llm_gateway_(requests_total|guardrail_triggers_total|cost_usd_total|config_version)'
echo "== done: everything started here is stopped on exit"
