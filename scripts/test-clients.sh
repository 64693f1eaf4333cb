#!/usr/bin/env bash
# Fills the client matrix of test/e2e/blind-clients.test.ts once: the HTTP clients that `kz run --blind`
# must work with unchanged.
#  - Debian's packages (root + apt-get only): Python aiohttp, wget, Ruby, PHP's CLI with its curl
#    extension (about 20 MB together).
#  - From the npm registry, into a cache outside the repo (KZ_TEST_CLIENTS, ~/.cache/kz-test-clients):
#    real Node binaries 18, 22.20.0, 22 latest and 24 (the `node` package installs one), Deno, and the
#    JS clients: got, node-fetch, axios and the OpenAI, Vercel AI and LangChain SDKs. Each part is installed
#    once (a stamp file records what it holds) and reinstalled only when this list changes.
# Left out on purpose: Java (ignores the proxy credential, so it cannot work unchanged; README says
# what to do) and Rust reqwest (crates.io is out of reach; Debian's sources compile for minutes).
# Nothing here fails the test run: a part that cannot be installed is skipped by name in the tests.
set -uo pipefail
cache="${KZ_TEST_CLIENTS:-${HOME:-/tmp}/.cache/kz-test-clients}"
mkdir -p "$cache"

# ---- Debian packages --------------------------------------------------------------------------------
missing=()
/usr/bin/python3 -c "import aiohttp" >/dev/null 2>&1 || missing+=(python3-aiohttp)
command -v wget >/dev/null 2>&1 || missing+=(wget)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
command -v php >/dev/null 2>&1 || missing+=(php-cli)
{ command -v php >/dev/null 2>&1 && php -r 'exit(function_exists("curl_init") ? 0 : 1);'; } || missing+=(php-curl)
if [ "${#missing[@]}" -gt 0 ]; then
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    echo "installing test clients: ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; } ||
      echo "warning: could not install ${missing[*]}; their client tests will be skipped" >&2
  else
    echo "warning: the client matrix needs these packages: ${missing[*]} (apt-get install them); their tests will be skipped" >&2
  fi
fi

# ---- npm packages into the cache ----------------------------------------------------------------------
# install DIR SPEC… : npm-installs SPECs into $cache/DIR unless its stamp already says exactly that.
install() {
  local dir="$cache/$1"
  shift
  local want="$*"
  [ "$(cat "$dir/.kz-stamp" 2>/dev/null)" = "$want" ] && return 0
  rm -rf "$dir" && mkdir -p "$dir" && echo '{"private":true}' >"$dir/package.json"
  if (cd "$dir" && npm install --no-audit --no-fund --silent --no-package-lock "$@" >"$dir/install.log" 2>&1); then
    echo "$want" >"$dir/.kz-stamp"
  else
    echo "warning: could not install $want into $dir (see install.log); those client tests will be skipped" >&2
  fi
}
command -v npm >/dev/null 2>&1 || { echo "warning: npm not found; the Node, Deno and JS SDK client tests will be skipped" >&2; exit 0; }
pids=()
install node-18 node@18 & pids+=($!)
install node-22.20.0 node@22.20.0 & pids+=($!)
install node-22 node@22 & pids+=($!)
install node-24 node@24 & pids+=($!)
install deno deno@2 & pids+=($!)
install js openai@6 ai@6 @ai-sdk/openai@3 @langchain/openai@1 @langchain/core@1 got@14 node-fetch@3 axios@1 & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done
exit 0
