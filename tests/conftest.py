"""Shared fixtures live in tests/fixtures/ (one module per real component)."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.toxiproxy_server",
    "tests.fixtures.kube_api",
    "tests.fixtures.kube_cluster",
    "tests.fixtures.kube_node",
]
