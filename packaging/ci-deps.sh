#!/usr/bin/env bash
# Installs the Debian packages that `npm run package` and test/packaging/ need, and nothing when they are
# already there (safe to call on every CI run):
#   binutils      strip, for the Linux binary
#   osslsigncode  remove-signature / sign / verify, for the Windows .exe (bookworm main has 2.5; 2.9 from
#                 backports also works)
#   wine64        runs the .exe and the cscript helper in test/packaging/sea.test.ts (Debian puts the wine64
#                 command in /usr/lib/wine, not on PATH)
#   openssl       makes the throw-away signing certificate in test/packaging/package.test.ts
set -euo pipefail

packages=(binutils osslsigncode wine64 openssl)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} > 0)); then
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
  echo "ci-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "ci-deps: ${packages[*]} already installed"
fi

# Fail loudly if a tool is still missing (e.g. a package renamed in a later Debian release).
for tool in strip osslsigncode openssl; do
  command -v "$tool" >/dev/null || { echo "ci-deps: $tool not found after install" >&2; exit 1; }
done
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || { echo "ci-deps: wine64 not found after install" >&2; exit 1; }
echo "ci-deps: ok"
