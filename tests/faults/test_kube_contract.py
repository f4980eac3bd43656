"""The same API contract, held against the fake API server and a real kube-apiserver.

The fake (tests/fixtures/kube_api.py) keeps the fast pod-kill tests fast; these tests keep it
honest: every assertion here runs against both back ends, so where the fake drifts from the
real server, the `fake` case fails and the `real` case shows what Kubernetes does.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Protocol

import pytest

from tests.faults.test_kube_api import API, BAD_SELECTORS, BARE, SELECTOR_CASES, WEB
from tests.faults.test_kube_api import call as fake_call
from tests.fixtures.kube_api import FakeKubeApi
from tests.fixtures.kube_cluster import KubeCluster


class Backend(Protocol):
    namespace: str

    def add_pod(self, name: str, labels: dict[str, str], *, node: str | None, phase: str | None = None) -> None: ...
    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]: ...
    def names(self) -> list[str]: ...
    def terminating(self) -> list[str]: ...


class Fake:
    def __init__(self, api: FakeKubeApi) -> None:
        self.api, self.namespace = api, "default"

    def add_pod(self, name: str, labels: dict[str, str], *, node: str | None, phase: str | None = None) -> None:
        self.api.add_pod(name, labels=labels, node=node, phase=phase)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return fake_call(self.api, method, path, body)

    def names(self) -> list[str]:
        return sorted(self.api.pod_names(self.namespace))

    def terminating(self) -> list[str]:
        return sorted(self.api.terminating(self.namespace))


class Real:
    def __init__(self, cluster: KubeCluster, namespace: str) -> None:
        self.cluster, self.namespace = cluster, namespace

    def add_pod(self, name: str, labels: dict[str, str], *, node: str | None, phase: str | None = None) -> None:
        self.cluster.create_pod(self.namespace, name, labels, node=node)
        if phase:
            self.cluster.set_phase(self.namespace, name, phase)

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        return self.cluster.call(method, path, body)

    def names(self) -> list[str]:
        return self.cluster.pod_names(self.namespace)

    def terminating(self) -> list[str]:
        return sorted(
            p["metadata"]["name"] for p in self.cluster.pods(self.namespace) if "deletionTimestamp" in p["metadata"]
        )

    def cleanup(self) -> None:
        """Pods on a node that does not exist stay Terminating for ever: remove them at once."""
        for name in self.names():
            self.call("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{name}", {"gracePeriodSeconds": 0})


@pytest.fixture(params=["fake", "real"])
def backend(request: pytest.FixtureRequest) -> Any:
    if request.param == "fake":
        yield Fake(request.getfixturevalue("kube_api"))
        return
    real = Real(request.getfixturevalue("kube_cluster"), request.getfixturevalue("kube_namespace"))
    yield real
    real.cleanup()


def _pods_path(b: Backend, selector: str | None = None) -> str:
    query = "" if selector is None else "?labelSelector=" + urllib.parse.quote(selector)
    return f"/api/v1/namespaces/{b.namespace}/pods{query}"


def test_label_selectors_filter_server_side_as_the_table_says(backend: Backend) -> None:
    backend.add_pod("web", WEB, node=None)
    backend.add_pod("api", API, node=None)
    backend.add_pod("bare", BARE, node=None)
    wrong = []
    for case in SELECTOR_CASES:
        selector, *expected = case.values
        status, answer = backend.call("GET", _pods_path(backend, str(selector)))
        assert status == 200, (selector, answer)
        got = sorted(p["metadata"]["name"] for p in answer["items"])
        want = sorted(name for name, hit in zip(("web", "api", "bare"), expected, strict=True) if hit)
        if got != want:
            wrong.append(f"{selector!r}: got {got}, the table says {want}")
    assert wrong == []


def test_bad_label_selectors_are_a_400_status(backend: Backend) -> None:
    wrong = []
    for case in BAD_SELECTORS:
        (selector,) = case.values
        status, answer = backend.call("GET", _pods_path(backend, str(selector)))
        if (status, answer.get("kind"), answer.get("reason")) != (400, "Status", "BadRequest"):
            wrong.append(f"{selector!r}: {status} {answer.get('reason')}")
    assert wrong == []


def test_graceful_delete_rules(backend: Backend) -> None:
    backend.add_pod("pending", {}, node=None)
    backend.add_pod("done", {}, node="node-1", phase="Succeeded")
    backend.add_pod("running", {}, node="node-1")
    backend.add_pod("now", {}, node="node-1")
    path = _pods_path(backend)
    for name in ("pending", "done"):
        assert backend.call("DELETE", f"{path}/{name}")[0] == 200
    status, pod = backend.call("DELETE", f"{path}/running")
    assert status == 200 and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    assert "deletionTimestamp" in pod["metadata"]
    assert backend.call("DELETE", f"{path}/now", {"gracePeriodSeconds": 0})[0] == 200
    assert backend.names() == ["running"]  # unscheduled, finished and grace 0 went at once
    assert backend.terminating() == ["running"]  # a scheduled pod waits for its kubelet


def test_uid_precondition_is_a_409_conflict(backend: Backend) -> None:
    backend.add_pod("p", {}, node=None)
    body = {"preconditions": {"uid": "00000000-0000-0000-0000-000000000000"}, "gracePeriodSeconds": 0}
    status, answer = backend.call("DELETE", f"{_pods_path(backend)}/p", body)
    assert (status, answer["kind"], answer["reason"]) == (409, "Status", "Conflict")
    assert backend.names() == ["p"]


def test_not_found_is_the_same_status_object(backend: Backend) -> None:
    status, body = backend.call("DELETE", f"{_pods_path(backend)}/nope")
    assert status == 404
    assert body == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'pods "nope" not found',
        "reason": "NotFound",
        "code": 404,
        "details": {"name": "nope", "kind": "pods"},
    }
