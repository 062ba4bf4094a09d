#!/bin/sh
# Starts IBKR's gateway (detached; it logs to $IB_GATEWAY_DIR/ibkr-auth-gateway.log), then runs the
# control service in the foreground on all interfaces. `gateway serve` refuses to listen there
# without IB_GATEWAY_SERVE_TOKEN. It does not log in by itself: POST /login when you want a session
# (or set IBKR_AUTH_LOGIN_ON_START=1).
set -eu
: "${IB_GATEWAY_SERVE_TOKEN:?set IB_GATEWAY_SERVE_TOKEN (e.g. openssl rand -hex 32) in the container environment}"
mkdir -p "$(dirname "$IB_AUTH_GUARD_FILE")"
# A lock left by a previous container run names a process that no longer exists: start takes it over.
ibkr-auth gateway start --timeout "${IBKR_AUTH_START_TIMEOUT:-120}"
if [ "${IBKR_AUTH_LOGIN_ON_START:-0}" = 1 ]; then
  ibkr-auth gateway login || echo "login failed; see the message above (GET /status shows the lockout guard)" >&2
fi
exec ibkr-auth gateway serve --host 0.0.0.0 --port "${PORT:-5050}"
