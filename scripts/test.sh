#!/usr/bin/env bash
# The test command: install (idempotent), then lint, type-check and run the whole suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/install.sh
# A real etcd + kube-apiserver + kube-controller-manager for the pod-kill tests, and kubelet +
# kube-scheduler for the node that runs pods (one go build: about 5 minutes cold on 2 cores;
# later runs reuse the binaries). The node's agent image is built by the test fixture
# (scripts/build-agent-image.sh: about 2 minutes cold, cached in .tools/images).
bash scripts/install-kube.sh
# Debian's Prometheus server for the prometheus/burn_rate probe and --metrics tests.
bash scripts/install-prometheus.sh
# actionlint (from its Go module) lints the GitHub Actions templates in examples/ci/ and action.yml.
bash scripts/install-actionlint.sh
echo "== ruff"; .venv/bin/ruff check chaosrun tests benchmarks
echo "== mypy"; .venv/bin/mypy
echo "== pytest"; .venv/bin/python -m pytest "$@"
