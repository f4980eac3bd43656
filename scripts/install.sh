#!/usr/bin/env bash
# Install chaosrun and everything its tests need into .venv (idempotent).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
    echo "error: chaosrun needs Python 3.11 or newer ($py is $("$py" --version 2>&1))" >&2; exit 1; }
  "$py" -m venv .venv
fi
# Re-install only when pyproject.toml changed since the last install (the package is editable:
# code changes need no re-install).
stamp=.venv/.chaosrun-installed
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing chaosrun and its dependencies into .venv ..."
  log="$(mktemp)"
  # pip's output is shown only when it fails (setuptools' editable-install notice is noise)
  if ! { .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip \
         && .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,kubernetes]'; } >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "error: pip could not install chaosrun into .venv (output above)" >&2
    exit 1
  fi
  rm -f "$log"
  echo "$want" > "$stamp"
fi
bash scripts/install-toxiproxy.sh
