"""The fake Kubernetes API itself: selector grammar and the semantics the pod-kill tests rely on."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.fixtures.kube_api import FakeKubeApi, SelectorError, matches, parse_selector

WEB = {"app": "web", "tier": "front", "env": "prod"}
API = {"app": "api", "tier": "back"}
BARE: dict[str, str] = {}


# Shared with tests/faults/test_kube_contract.py, which holds the real kube-apiserver to them.
SELECTOR_CASES = [
    pytest.param("", True, True, True, id="empty-matches-all"),
    pytest.param("app=web", True, False, False, id="equals"),
    pytest.param("app==web", True, False, False, id="double-equals"),
    pytest.param("app != web", False, True, True, id="not-equals-matches-missing-label"),
    pytest.param("app in (web, api)", True, True, False, id="in"),
    pytest.param("app notin (web)", False, True, True, id="notin-matches-missing-label"),
    pytest.param("env", True, False, False, id="exists"),
    pytest.param("!env", False, True, True, id="not-exists"),
    pytest.param("app=web,tier=back", False, False, False, id="comma-is-and"),
    pytest.param("app in (web,api),tier=back", False, True, False, id="set-then-equality"),
    pytest.param("tier,!env", False, True, False, id="exists-and-not-exists"),
    pytest.param("app=", False, False, False, id="empty-value"),
    pytest.param("example.com/team=web", False, False, False, id="prefixed-key"),
    # apimachinery reads `()` as the set {""} and an empty item between commas as "" (the
    # contract test found the fake refusing these; the real server answers 200)
    pytest.param("app in ()", False, False, False, id="empty-set-is-the-empty-value"),
    pytest.param("app notin ()", True, True, True, id="notin-empty-set"),
    pytest.param("app in (web,)", True, False, False, id="trailing-comma-in-set"),
    pytest.param("app in (,api)", False, True, False, id="leading-comma-in-set"),
]


@pytest.mark.parametrize(("selector", "web", "api", "bare"), SELECTOR_CASES)
def test_selector_semantics(selector: str, web: bool, api: bool, bare: bool) -> None:
    assert (matches(selector, WEB), matches(selector, API), matches(selector, BARE)) == (web, api, bare)


BAD_SELECTORS = [
    pytest.param("app in web", id="in-without-parens"),
    pytest.param("app in (web", id="unclosed-set"),
    pytest.param("app in (web,", id="unclosed-set-after-comma"),
    pytest.param("app in (web)(api)", id="two-sets"),
    pytest.param("app in (web api)", id="set-without-comma"),
    pytest.param("app=web,", id="trailing-comma"),
    pytest.param("app=web tier=front", id="missing-comma"),
    pytest.param("=web", id="no-key"),
    pytest.param("app=we b", id="space-in-value"),
    pytest.param("app=-web", id="value-starts-with-dash"),
    pytest.param("-app=web", id="key-starts-with-dash"),
]


@pytest.mark.parametrize("selector", BAD_SELECTORS)
def test_bad_selectors_are_rejected(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_selector(selector)


def call(api: FakeKubeApi, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api.url + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {api.token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def names(payload: dict[str, Any]) -> list[str]:
    return [p["metadata"]["name"] for p in payload["items"]]


def test_list_filters_server_side_and_400_on_a_bad_selector(kube_api: FakeKubeApi) -> None:
    kube_api.add_pod("a", labels={"app": "web"})
    kube_api.add_pod("b", labels={"app": "api"})
    kube_api.add_pod("c", labels={"app": "web"}, namespace="other")
    assert names(call(kube_api, "GET", "/api/v1/namespaces/default/pods?labelSelector=app%3Dweb")[1]) == ["a"]
    assert names(call(kube_api, "GET", "/api/v1/pods?labelSelector=app%3Dweb")[1]) == ["a", "c"]
    status, body = call(kube_api, "GET", "/api/v1/namespaces/default/pods?labelSelector=app+in+web")
    assert status == 400 and body["kind"] == "Status" and body["reason"] == "BadRequest"


def test_unknown_paths_are_404_status_objects(kube_api: FakeKubeApi) -> None:
    # the 404 of a missing pod is compared with the real server's in test_kube_contract.py
    status, body = call(kube_api, "GET", "/apis/nothing")
    assert status == 404 and body["kind"] == "Status" and body["reason"] == "NotFound"


def test_token_is_required(kube_api: FakeKubeApi) -> None:
    request = urllib.request.Request(kube_api.url + "/version")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    with info.value as exc:
        assert exc.code == 401


def test_finish_terminating_plays_the_kubelet(kube_api: FakeKubeApi) -> None:
    # the delete rules themselves (and the uid precondition) are in test_kube_contract.py
    kube_api.add_pod("running")
    assert call(kube_api, "DELETE", "/api/v1/namespaces/default/pods/running")[0] == 200
    assert kube_api.terminating() == ["running"]
    assert kube_api.finish_terminating() == ["default/running"]
    assert kube_api.pod_names() == []


def test_replicaset_recreates_a_deleted_pod_under_a_new_name(kube_api: FakeKubeApi) -> None:
    kube_api.add_replicaset("web", replicas=2, labels={"app": "web"})
    first = kube_api.pod_names(selector="app=web")
    assert len(first) == 2
    call(kube_api, "DELETE", f"/api/v1/namespaces/default/pods/{first[0]}", {"gracePeriodSeconds": 0})
    after = kube_api.pod_names(selector="app=web")
    assert len(after) == 2 and first[0] not in after and first[1] in after
    pod = call(kube_api, "GET", f"/api/v1/namespaces/default/pods/{next(n for n in after if n != first[1])}")[1]
    assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert pod["status"]["phase"] == "Running"
    listed = call(kube_api, "GET", "/apis/apps/v1/namespaces/default/replicasets")[1]
    assert [rs["metadata"]["name"] for rs in listed["items"]] == ["web"]


def test_fail_next(kube_api: FakeKubeApi) -> None:
    kube_api.fail_next(503)
    assert call(kube_api, "GET", "/version")[0] == 503
    assert call(kube_api, "GET", "/version")[0] == 200
