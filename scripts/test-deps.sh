#!/usr/bin/env bash
# Installs the real clients and tools kz's end-to-end tests drive, from Debian's packages, when they
# are missing: curl, openssl, Python requests/httpx, bubblewrap (the blind sandbox), headless Chromium
# (the share page), redis-server (replicated state), PostgreSQL (the query broker), ruby (the Homebrew
# formula parses), file and dash (release and install tests). Needs root for
# apt-get; otherwise it only says what is missing.
set -euo pipefail
missing=()
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
/usr/bin/python3 -c "import requests" >/dev/null 2>&1 || missing+=(python3-requests)
/usr/bin/python3 -c "import httpx" >/dev/null 2>&1 || missing+=(python3-httpx)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v file >/dev/null 2>&1 || missing+=(file)
command -v dash >/dev/null 2>&1 || missing+=(dash)
# The client matrix (aiohttp, wget, Ruby, PHP, Node versions, Deno, JS SDKs): its own script, never fatal.
bash "$(dirname "$0")/test-clients.sh"
[ "${#missing[@]}" -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing test tools: ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "warning: tests need these packages: ${missing[*]} (apt-get install them)" >&2
fi
