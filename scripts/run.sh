#!/usr/bin/env bash
# Starts the action server and the Rasa server (REST and socket.io on port 5005,
# plus the chat widget and its demo clinic page at http://localhost:5005/) and
# stops both on Ctrl-C. `scripts/run.sh shell` talks in the terminal instead.
set -euo pipefail
cd "$(dirname "$0")/.."
export RASA_TELEMETRY_ENABLED=false
mode=${1:-server}
RASA_PORT=${RASA_PORT:-5005}
ACTIONS_PORT=${ACTIONS_PORT:-5055}
MODEL=models/pain-clinic.tar.gz
# credentials.channels.yml adds Slack and Telegram (their secrets from the environment).
CREDENTIALS=${CREDENTIALS:-credentials.yml}

# The action server serves only requests carrying this shared secret (endpoints.yml
# sends it). Set it yourself when the servers run apart; otherwise one per run.
if [ -z "${ACTION_SERVER_TOKEN:-}" ]; then
  ACTION_SERVER_TOKEN=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))')
fi
export ACTION_SERVER_TOKEN
# Rasa's HTTP API stays off unless RASA_JWT_SECRET is set; then it needs a JWT
# signed with that secret (bot/server/http_api.py, SECURITY.md).
API_ARGS=()
if [ -n "${RASA_JWT_SECRET:-}" ]; then
  export RASA_JWT_SECRET
  API_ARGS=(--enable-api --jwt-method HS256)
fi

# endpoints.yml names the action server on port 5055; follow ACTIONS_PORT if it differs.
ENDPOINTS=endpoints.yml
if [ "$ACTIONS_PORT" != 5055 ]; then
  mkdir -p build
  ENDPOINTS=build/endpoints.$ACTIONS_PORT.yml
  sed "s#localhost:5055#localhost:$ACTIONS_PORT#" endpoints.yml > "$ENDPOINTS"
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "Stopped."
}
trap cleanup INT TERM EXIT

.venv/bin/python -m actions --port "$ACTIONS_PORT" --log-level WARNING &
pids+=($!)
for _ in $(seq 60); do
  if curl -fsS "http://localhost:$ACTIONS_PORT/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[0]}" 2>/dev/null; then echo "The action server did not start (see above)." >&2; exit 1; fi
  sleep 0.5
done

if [ "$mode" = shell ]; then
  .venv/bin/rasa shell -m "$MODEL" --endpoints "$ENDPOINTS" --port "$RASA_PORT"
  exit 0
fi

.venv/bin/rasa run -m "$MODEL" --credentials "$CREDENTIALS" --endpoints "$ENDPOINTS" \
  --port "$RASA_PORT" ${API_ARGS[@]+"${API_ARGS[@]}"} &
pids+=($!)
for _ in $(seq 240); do
  if curl -fsS "http://localhost:$RASA_PORT/" >/dev/null 2>&1; then break; fi
  if ! kill -0 "${pids[1]}" 2>/dev/null; then echo "The Rasa server did not start (see above)." >&2; exit 1; fi
  sleep 0.5
done
cat <<MSG

The assistant is running. Talk to it:
  browser:   http://localhost:$RASA_PORT/ (the demo clinic page with the chat widget)
  REST:      curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{"sender": "me", "message": "what is RFA?"}'
  socket.io: http://localhost:$RASA_PORT/socket.io (the chat widget's channel)
  websites:  the clinic sites in bot/clinic.yml (allowed_origins) may embed the widget
  HTTP API:  $([ ${#API_ARGS[@]} -gt 0 ] && echo "on, JWT signed with RASA_JWT_SECRET" || echo "off (set RASA_JWT_SECRET to enable it)")
  terminal:  make shell
Press Ctrl-C to stop both servers.
MSG
wait -n "${pids[@]}"
