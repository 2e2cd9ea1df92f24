# Sourced by .ci/api-fuzz and .ci/load: `start_gdpr NAME BINARY [VAR=value...]` starts
# `BINARY serve` on its embedded default (SQLite, local disk) in a scratch directory, on a free
# port, with a random admin token and the given environment, and waits until it is ready.
# Sets: work (the scratch directory), base (http://127.0.0.1:PORT), admin, server (its pid);
# the server is stopped and the directory removed by `stop_gdpr`, or when the script exits
# (then `on_exit` runs too, if the script defines it).
# `tenant_key NAME` prints a new tenant's read-write API key, made through the admin API.

start_gdpr() {
  local name=$1 binary=$2
  shift 2
  work=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  base="http://127.0.0.1:$port"
  admin="$name-admin-$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
  (
    cd "$work"
    exec env GDPR_LISTEN="127.0.0.1:$port" GDPR_SECURITY__ADMIN_TOKEN="$admin" "$@" "$binary" serve
  ) >"$work/server.log" 2>&1 &
  server=$!
  trap 'stop_gdpr; if declare -F on_exit >/dev/null; then on_exit; fi' EXIT
  for _ in $(seq 1 100); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && return 0
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  cat "$work/server.log" >&2
  echo "==> $name: the server did not start" >&2
  exit 1
}

stop_gdpr() {
  if [ -n "${server:-}" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "${work:-}" ]; then
    rm -rf "$work"
  fi
  server=
  work=
}

tenant_key() {
  python3 - "$base" "$admin" "$1" <<'PY'
import json, sys, urllib.request

base, admin, name = sys.argv[1:4]

def post(path, body):
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + admin, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request) as response:
        return json.load(response)

tenant = post("/v1/admin/tenants", {"name": name, "privacy_contact": "dpo@example.org"})
print(post(f"/v1/admin/tenants/{tenant['id']}/api-keys", {})["token"])
PY
}
