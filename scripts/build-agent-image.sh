#!/usr/bin/env bash
# Build the chaosrun agent image without Docker, as a docker-archive tar for
# `ctr images import` (the test node imports it; pods use `imagePullPolicy: Never`).
# Users build the equivalent image with deploy/kubernetes/Dockerfile.
#
#   scripts/build-agent-image.sh OUT.tar [NAME:TAG]     (default chaosrun.local/agent:dev)
#
# Two layers:
#  1. base: a Debian root filesystem from Debian packages (debootstrap --variant=minbase,
#     bookworm, with python3), plus the agent's Python dependencies (aiohttp, pyyaml, click:
#     binary wheels for CPython 3.11, bookworm's Python) under /opt/chaosrun/lib. Cached in
#     .tools/images/ under a key of this script's text: built once per machine (about 2 min
#     cold, mostly downloads), reused after that. The .deb files are cached there too.
#  2. chaosrun: this checkout's chaosrun package under /opt/chaosrun/src (rebuilt every time,
#     well under a second), so the agent in the pod runs the code under test.
# Entry point: `python3 -m chaosrun` (so `chaosrun agent ...` is the pod's args).
# Needs root (debootstrap), debootstrap (apt), and pip (the .venv's).
# Environment: CHAOSRUN_DEBIAN_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 OUT.tar [NAME:TAG]" >&2; exit 2; }
out="$1"
name="${2:-chaosrun.local/agent:dev}"
suite=bookworm
mirror="${CHAOSRUN_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
requirements=("aiohttp>=3.9,<4" "pyyaml>=6.0,<7" "click>=8.1,<9")
cache="$root/.tools/images"
pip=("$root/.venv/bin/python" -m pip)
[ -x "$root/.venv/bin/python" ] || pip=(python3 -m pip)
mkdir -p "$cache/debs" "$(dirname "$out")"

key="$( { cat "${BASH_SOURCE[0]}"; echo "$mirror"; } | sha256sum | cut -c1-16)"
base="$cache/agent-base-$key.tar"
start=$SECONDS
if [ ! -f "$base" ]; then
  command -v debootstrap >/dev/null 2>&1 || { echo "error: debootstrap is missing: apt-get install debootstrap" >&2; exit 1; }
  [ "$(id -u)" = 0 ] || { echo "error: building the base root filesystem needs root (debootstrap)" >&2; exit 1; }
  work="$(mktemp -d "$cache/.base.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  echo "building the agent's base root filesystem (debootstrap $suite, once per machine)..." >&2
  if ! debootstrap --variant=minbase --include=python3 --cache-dir="$cache/debs" \
      "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -n 20 "$work/debootstrap.log" >&2
    echo "error: debootstrap $suite from $mirror failed (output above)" >&2; exit 1
  fi
  rm -rf "$work/rootfs/usr/share/doc" "$work/rootfs/usr/share/man" "$work/rootfs/usr/share/locale" \
    "$work/rootfs/var/cache/apt" "$work/rootfs/var/lib/apt/lists"
  mkdir -p "$work/rootfs/opt/chaosrun/lib" "$work/rootfs/opt/chaosrun/src"
  if ! "${pip[@]}" install --quiet --disable-pip-version-check --no-compile \
      --target "$work/rootfs/opt/chaosrun/lib" --python-version 3.11 --implementation cp --abi cp311 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --only-binary=:all: \
      "${requirements[@]}" >"$work/pip.log" 2>&1; then
    tail -n 20 "$work/pip.log" >&2
    echo "error: pip could not install the agent's dependencies (output above)" >&2; exit 1
  fi
  tar -C "$work/rootfs" --numeric-owner -cf "$work/base.tar" .
  mv -f "$work/base.tar" "$base"
  rm -rf "$work"
  trap - EXIT
  echo "  (base layer built in $((SECONDS - start)) s: $base)" >&2
fi

layer="$(mktemp -d)"
trap 'rm -rf "$layer"' EXIT
mkdir -p "$layer/opt/chaosrun/src"
(cd "$root" && tar --exclude=__pycache__ -cf - chaosrun) | tar -C "$layer/opt/chaosrun/src" -xf -
python3 "$root/scripts/image-archive.py" "$out" --name "$name" --layer "$base" --layer "$layer" \
  --entrypoint '["python3", "-m", "chaosrun"]' --workdir /tmp \
  --env PYTHONPATH=/opt/chaosrun/src:/opt/chaosrun/lib --env PYTHONUNBUFFERED=1 --env PYTHONDONTWRITEBYTECODE=1
echo "agent image $name: $out ($((SECONDS - start)) s)" >&2
