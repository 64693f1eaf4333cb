#!/bin/sh
# kz installer — curl -fsSL https://github.com/keyzero-dev/kz/releases/latest/download/install.sh | sh
#
# Picks the archive for this OS (Linux, macOS), CPU (x64, arm64) and C library (glibc, musl), checks it
# against the release's SHA256SUMS (refuses on a mismatch or when no sha256 tool exists), and puts `kz`
# in $KZ_INSTALL_DIR (default ~/.local/bin) without sudo. Re-running upgrades in place: the new binary is
# copied beside the old one and renamed over it, so `kz` is always either the old or the new one.
#
#   KZ_VERSION=0.1.0        install that version (default: the latest release)
#   KZ_INSTALL_DIR=DIR      where to put kz (default: ~/.local/bin)
#   KZ_INSTALL_BASE=URL     where releases live (default: https://github.com/keyzero-dev/kz/releases);
#                           files are read from URL/download/v<version>/ or URL/latest/download/
set -eu

err() {
  printf 'kz-install: error: %s\n' "$*" >&2
  exit 1
}

say() {
  printf 'kz-install: %s\n' "$*" >&2
}

base=${KZ_INSTALL_BASE:-https://github.com/keyzero-dev/kz/releases}
base=${base%/}
version=${KZ_VERSION:-}
version=${version#v}
case $version in *[!0-9A-Za-z.+-]*) err "KZ_VERSION must look like 0.1.0 (got \"$version\")" ;; esac
dir=${KZ_INSTALL_DIR:-}
if [ -z "$dir" ]; then
  [ -n "${HOME:-}" ] || err "HOME is not set; set KZ_INSTALL_DIR to the folder to install kz into"
  dir=$HOME/.local/bin
fi

case $(uname -s) in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  *) err "no kz build for $(uname -s); build from source (see README.md)" ;;
esac
case $(uname -m) in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) err "no kz build for the $(uname -m) CPU; build from source (see README.md)" ;;
esac
# An x64 shell under Rosetta on an Apple silicon Mac: take the native build.
if [ "$os" = darwin ] && [ "$arch" = x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || true)" = 1 ]; then
  arch=arm64
fi
target=$os-$arch
if [ "$os" = linux ]; then
  musl=
  for f in /lib/ld-musl-*; do [ -e "$f" ] && musl=1; done
  if [ -z "$musl" ] && (ldd --version 2>&1 || true) | grep -qi musl; then musl=1; fi
  if [ -n "$musl" ]; then
    [ "$arch" = x64 ] || err "no kz build for musl on $arch; build from source (see README.md)"
    target=$target-musl
  fi
fi

if command -v curl >/dev/null 2>&1; then
  # From an https base, no redirect may drop to plain http.
  case $base in https://*) https_only='--proto =https --tlsv1.2' ;; *) https_only= ;; esac
  fetch() { why=$(curl $https_only -fsSL -o "$2" "$1" 2>&1) || err "download failed: $1: ${why#curl: }"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { why=$(wget -q -O "$2" "$1" 2>&1) || err "download failed: $1${why:+: $why}"; }
else
  err "neither curl nor wget found; install one and re-run"
fi
if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d' ' -f1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d' ' -f1; }
else
  err "neither sha256sum nor shasum found: cannot verify the download, so nothing was installed"
fi

tmp=$(mktemp -d 2>/dev/null || mktemp -d -t kz-install) || err "cannot create a temporary folder"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -n "$version" ]; then
  url=$base/download/v$version
else
  url=$base/latest/download
fi
fetch "$url/SHA256SUMS" "$tmp/SHA256SUMS"
# The archive's name carries its version; for "latest" it is learnt from SHA256SUMS.
if [ -n "$version" ]; then
  archive=kz-$version-$target.tar.gz
else
  archive=$(sed -n "s/^[0-9a-f]\{64\}  \(kz-[0-9A-Za-z.+-]*-$target\.tar\.gz\)\$/\1/p" "$tmp/SHA256SUMS" | head -n 1)
  [ -n "$archive" ] || err "the latest release has no $target archive (see $url/SHA256SUMS)"
fi
expected=$(awk -v f="$archive" '$2 == f && length($1) == 64 { print $1; exit }' "$tmp/SHA256SUMS")
[ -n "$expected" ] || err "$archive is not listed in $url/SHA256SUMS"

say "downloading $archive"
fetch "$url/$archive" "$tmp/$archive"
actual=$(sha256 "$tmp/$archive")
[ "$actual" = "$expected" ] || err "checksum mismatch for $archive (expected $expected, got $actual); nothing was installed"

mkdir "$tmp/x"
tar -xzf "$tmp/$archive" -C "$tmp/x" kz || err "cannot unpack $archive"
[ -f "$tmp/x/kz" ] && [ ! -L "$tmp/x/kz" ] || err "$archive holds no kz binary"
chmod 755 "$tmp/x/kz"
"$tmp/x/kz" --version >/dev/null 2>&1 || err "the downloaded kz does not run on this machine ($target); nothing was installed"

mkdir -p "$dir" || err "cannot create $dir; set KZ_INSTALL_DIR to a folder you can write"
part=$dir/.kz.install.$$
trap 'rm -rf "$tmp"; rm -f "$part"' EXIT
cp "$tmp/x/kz" "$part" || err "cannot write to $dir; set KZ_INSTALL_DIR to a folder you can write"
chmod 755 "$part"
mv -f "$part" "$dir/kz" || err "cannot replace $dir/kz"

say "installed $("$dir/kz" --version) to $dir/kz"
case ":${PATH:-}:" in
  *":$dir:"*) ;;
  *)
    say "$dir is not on your PATH; add it with:"
    printf '  export PATH="%s:$PATH"   # e.g. in ~/.profile, ~/.bashrc or ~/.zshrc\n' "$dir" >&2
    ;;
esac
