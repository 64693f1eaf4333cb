#!/usr/bin/env bash
# kz in two minutes, in a throwaway project: store a (fake) key in the encrypted local store, run a
# program that receives it with its output masked — then what kz is for: a blind run whose agent holds
# only a KZ_TOK_… token, calls a local HTTPS API that receives the real key, and, inside the sandbox,
# tries `kz export` and the key file and gets nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
kz="$root/dist/kz"
bun="$(command -v bun || echo "$root/node_modules/.bin/bun")"
demo=$(mktemp -d)
api_pid=
trap '[ -n "$api_pid" ] && kill "$api_pid" 2>/dev/null; rm -rf "$demo"' EXIT
export HOME="$demo" XDG_DATA_HOME="$demo/data" XDG_CONFIG_HOME="$demo/config" XDG_STATE_HOME="$demo/state"
mkdir -p "$demo/project" && cd "$demo/project"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' off=$'\033[0m'; else bold= off=; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$off"; }

step kz init;                                  "$kz" init >/dev/null 2>&1 && echo "wrote .keyzero.toml"
step "printf 'sk-demo-fake-0123456789' | kz put DEMO_API_KEY"
printf 'sk-demo-fake-0123456789' | "$kz" put DEMO_API_KEY
step "kz run -- sh -c 'echo \"agent got: \$DEMO_API_KEY\"'"
"$kz" run -- sh -c 'echo "agent got: $DEMO_API_KEY"'
echo "(the program had the real key; kz masked it in the output)"

# Blind mode: a local HTTPS API stands in for api.demo.test.
"$bun" "$root/scripts/demo-api.ts" "$demo" & api_pid=$!
while [ ! -s "$demo/demo-api.port" ]; do sleep 0.05; done
cat > .keyzero.toml <<TOML
[blind]
upstream_ca = "$demo/demo-api-ca.pem"
resolve = { "api.demo.test:443" = "127.0.0.1:$(cat "$demo/demo-api.port")" }

[secrets]
DEMO_API_KEY = { provider = "local", hosts = ["api.demo.test"] }
TOML
step kz allow;                                 "$kz" allow 2>&1
sandbox=()
command -v bwrap >/dev/null || { sandbox=(--no-sandbox); echo "(bubblewrap is not installed: this demo runs blind mode without the sandbox)"; }
agent='echo "agent holds: $DEMO_API_KEY"
curl -s -o /dev/null -w "agent called api.demo.test: HTTP %{http_code}\n" -H "Authorization: Bearer $DEMO_API_KEY" https://api.demo.test/
kz export >/dev/null 2>&1 && echo "kz export inside: GOT THE KEY" || echo "kz export inside: refused"
cat "$XDG_CONFIG_HOME/keyzero/local.key" >/dev/null 2>&1 && echo "key file inside: READ" || echo "key file inside: hidden"'
step "kz run --blind -- sh -c '<agent: print its key, call the API, try kz export and the key file>'"
PATH="$(dirname "$kz"):$PATH" "$kz" run --blind "${sandbox[@]}" -- sh -c "$agent"
