#!/bin/sh
# Installs what the HTTP fallback and ACP tests need (test/support/nginx.ts): nginx, its WebDAV extension module
# (libnginx-mod-http-dav-ext answers PROPFIND, as IIS WebDAV does on a distribution point) and the openssl CLI.
# Idempotent: does nothing when all are present. The tests start their own nginx on a loopback port with a
# generated config; the system service is neither enabled nor started (and is stopped again if the package's
# postinst started it on a systemd-less CI box via invoke-rc.d).
set -eu

need=""
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need="$need nginx"
[ -f /usr/lib/nginx/modules/ngx_http_dav_ext_module.so ] || need="$need libnginx-mod-http-dav-ext"
command -v openssl >/dev/null 2>&1 || need="$need openssl"
if [ -z "$need" ]; then
  echo "ci-deps-http: nginx, libnginx-mod-http-dav-ext and openssl already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# policy-rc.d exit 101 = "action forbidden": keeps the package scripts from starting the system nginx.
# Only installed for the duration of this script, and only if there is not one already.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$POLICY" >/dev/null
  $SUDO chmod 755 "$POLICY"
  ADDED_POLICY=1
fi
cleanup() { if [ -n "$ADDED_POLICY" ]; then $SUDO rm -f "$POLICY"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $need
# Do not leave the distribution's service enabled on a machine where systemd runs (tests start their own).
if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now nginx >/dev/null 2>&1 || true
fi
echo "ci-deps-http: installed$need"
