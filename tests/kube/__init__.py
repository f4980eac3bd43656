"""Kubernetes for real: a node that runs pods (tests/fixtures/kube_node.py)."""
