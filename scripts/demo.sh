#!/usr/bin/env bash
# The main job: install (idempotent), then run the demo (Toxiproxy + a 3-region service + faults + reports).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install.sh
exec .venv/bin/chaosrun demo "$@"
