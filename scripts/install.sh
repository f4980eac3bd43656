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
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev,kubernetes]'
bash scripts/install-toxiproxy.sh
