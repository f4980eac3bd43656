#!/usr/bin/env bash
# Install the pinned Prometheus server the prometheus/burn_rate probe tests run against.
# Debian's package (bookworm: 2.42.0+ds-5+deb12u1), installed without recommends; the tests start
# their own server (own config, data folder and port), never the packaged service.
# A binary elsewhere can be named with CHAOSRUN_PROMETHEUS=/path/to/prometheus.
set -euo pipefail
VERSION="2.42.0"
DEB_VERSION="2.42.0+ds-5+deb12u1"
bin="${CHAOSRUN_PROMETHEUS:-/usr/bin/prometheus}"

has_version() {  # $1: binary; true when `--version` names $VERSION
  "$1" --version 2>&1 | grep -q "version $VERSION"
}

if [ -x "$bin" ] && has_version "$bin"; then
  echo "prometheus $VERSION already installed: $bin"; exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing prometheus $DEB_VERSION (Debian package) ..."
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-cache policy prometheus 2>/dev/null | grep -q "$DEB_VERSION"; then
    apt-get update -qq
  fi
  # policy-rc.d 101: the package's service is not started (the tests run their own server)
  policy=/usr/sbin/policy-rc.d
  created=""
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created=1; fi
  apt-get install -y -qq --no-install-recommends "prometheus=$DEB_VERSION" >/dev/null
  if [ -n "$created" ]; then rm -f "$policy"; fi
  has_version "$bin" && { echo "prometheus $VERSION installed: $bin"; exit 0; }
fi
echo "error: prometheus $VERSION not found at $bin; install Debian's prometheus=$DEB_VERSION" \
     "or set CHAOSRUN_PROMETHEUS to a prometheus $VERSION binary" >&2
exit 1
