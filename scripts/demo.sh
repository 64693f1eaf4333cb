#!/usr/bin/env bash
# kz's main job on the zero-setup default, in a throwaway project: init, store a (fake) key in the
# encrypted local store, check it, and run a program that receives it — with its output masked.
set -euo pipefail
kz="$(cd "$(dirname "$0")/.." && pwd)/dist/kz"
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
export HOME="$demo" XDG_DATA_HOME="$demo/data" XDG_CONFIG_HOME="$demo/config"
cd "$demo"
if [ -t 1 ] && [ -z "${NO_COLOR:-}" ]; then bold=$'\033[1m' off=$'\033[0m'; else bold= off=; fi
step() { printf '\n%s$ %s%s\n' "$bold" "$*" "$off"; }

step kz init;                                  "$kz" init
step "printf 'sk-demo-fake-0123456789' | kz put DEMO_API_KEY"
printf 'sk-demo-fake-0123456789' | "$kz" put DEMO_API_KEY
step kz status;                                "$kz" status
step "kz run -- sh -c 'echo \"agent got a \${#DEMO_API_KEY}-character key: \$DEMO_API_KEY\"'"
"$kz" run -- sh -c 'echo "agent got a ${#DEMO_API_KEY}-character key: $DEMO_API_KEY"'
printf '\nThe child had the real value; kz masked it in the output. Store file: %s (encrypted, 0600)\n' "$XDG_DATA_HOME/keyzero/store.json"
