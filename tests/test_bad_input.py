"""Bad input: every case names the exact `file:line:col`, field path and message."""
# ruff: noqa: E501  (expected messages are compared whole, one per line)

from __future__ import annotations

from pathlib import Path

import pytest

from chaosrun.errors import ValidationFailed
from chaosrun.loader import load_experiment
from tests import loader_samples  # noqa: F401  (registers the test.noop fault kind)

B = """\
title: T
regions:
  local: {base_url: "http://127.0.0.1:8101"}
steady_state:
  probes:
    - name: health
      http: {url: /health}
phases: {baseline: 1s, fault: 2s, recovery: 1s}
"""


def probe(extra: str) -> str:
    """B with `extra` lines added to its probe."""
    return B.replace("      http: {url: /health}\n", "      http: {url: /health}\n" + extra)


def issues_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str | bytes], **kw: object
) -> list[str]:
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationFailed) as info:
        load_experiment("exp.yaml", environ={}, **kw)  # type: ignore[arg-type]
    lines = [str(i) for i in info.value.issues]
    assert str(info.value).splitlines() == lines  # one line per issue, as the CLI prints it
    return lines


CASES = [
    pytest.param(
        {"exp.yaml": "title: [unclosed\nregions: x\n"},
        [
            "exp.yaml:2:8: malformed YAML: expected ',' or ']', but got ':'",
        ],
        id="malformed-yaml",
    ),
    pytest.param(
        {"exp.yaml": ""},
        [
            "exp.yaml:1:1: the file is empty; expected a mapping with at least 'title' and 'steady_state'",
        ],
        id="empty-file",
    ),
    pytest.param(
        {"exp.yaml": "# nothing here\n"},
        [
            "exp.yaml:1:1: the file is empty; expected a mapping with at least 'title' and 'steady_state'",
        ],
        id="comments-only",
    ),
    pytest.param(
        {"exp.yaml": "- title: T\n"},
        [
            "exp.yaml:1:1: expected a mapping with keys such as title, regions, steady_state and phases, got a list",
        ],
        id="list-at-top",
    ),
    pytest.param(
        {"exp.yaml": "hello\n"},
        [
            "exp.yaml:1:1: expected a mapping with keys such as title, regions, steady_state and phases, got 'hello'",
        ],
        id="scalar-at-top",
    ),
    pytest.param(
        {"exp.yaml": B + "rollback: []\n"},
        [
            "exp.yaml:9:1: rollback: unknown key 'rollback'; did you mean 'rollbacks'?",
        ],
        id="unknown-top-key",
    ),
    pytest.param(
        {"exp.yaml": probe("      evry: 1s\n")},
        [
            "exp.yaml:8:7: steady_state.probes[0].evry: unknown key 'evry'; did you mean 'every'?",
        ],
        id="unknown-probe-key",
    ),
    pytest.param(
        {"exp.yaml": probe("      every: fast\n")},
        [
            "exp.yaml:8:14: steady_state.probes[0].every: expected a duration like '300ms', '2s' or '1m', got 'fast'",
        ],
        id="duration-fast",
    ),
    pytest.param(
        {"exp.yaml": probe("      every: 5\n")},
        [
            "exp.yaml:8:14: steady_state.probes[0].every: expected a duration like '300ms', '2s' or '1m', got '5'",
        ],
        id="duration-bare-number",
    ),
    pytest.param(
        {"exp.yaml": probe("      every: -1s\n")},
        [
            "exp.yaml:8:14: steady_state.probes[0].every: expected a duration like '300ms', '2s' or '1m', got '-1s'",
        ],
        id="duration-negative",
    ),
    pytest.param(
        {"exp.yaml": probe("      regions: [locl]\n")},
        [
            "exp.yaml:8:17: steady_state.probes[0].regions[0]: unknown region 'locl'; did you mean 'local'?",
        ],
        id="unknown-region",
    ),
    pytest.param(
        {"exp.yaml": B + "method:\n  - fault: test.noopp\n    proxy: p\n"},
        [
            "exp.yaml:10:12: method[0].fault: unknown fault kind 'test.noopp'; did you mean 'test.noop'?",
        ],
        id="unknown-fault-kind",
    ),
    pytest.param(
        {"exp.yaml": B + "toxiproxy:\n  proxies: {payments: {}}\nmethod:\n  - fault: test.noop\n    proxy: paymants\n"},
        [
            "exp.yaml:13:12: method[0].proxy: unknown proxy 'paymants'; did you mean 'payments'?",
        ],
        id="unknown-proxy",
    ),
    pytest.param(
        {
            "exp.yaml": B
            + "toxiproxy:\n  proxies: {payments: {}}\nmethod:\n  - fault: test.noop\n    name: n\n    start: 0s\n    proxy: payments\n    amout: 2\n"
        },
        [
            "exp.yaml:16:5: method[0].amout: unknown key 'amout'; did you mean 'amount'?",
        ],
        id="unknown-fault-param",
    ),
    pytest.param(
        {"exp.yaml": B.replace("title: T", "title: [a, b]")},
        [
            "exp.yaml:1:8: title: expected a string, got a list",
        ],
        id="title-is-a-list",
    ),
    pytest.param(
        {"exp.yaml": B.replace("http: {url: /health}", "tcp: {port: abc}")},
        [
            "exp.yaml:7:19: steady_state.probes[0].tcp.port: expected a whole number, got 'abc'",
        ],
        id="port-not-a-number",
    ),
    pytest.param(
        {"exp.yaml": probe("      tolerance: {success_ratio: '>= 1.5'}\n")},
        [
            "exp.yaml:8:34: steady_state.probes[0].tolerance.success_ratio: a ratio must be between 0 and 1 (or 0% and 100%), got '1.5'",
        ],
        id="ratio-above-1",
    ),
    pytest.param(
        {"exp.yaml": B.replace("title: T\n", "")},
        [
            "exp.yaml:1:1: missing required key 'title'",
        ],
        id="missing-title",
    ),
    pytest.param(
        {"exp.yaml": B.replace('regions:\n  local: {base_url: "http://127.0.0.1:8101"}\n', "")},
        [
            "exp.yaml:1:1: missing required key 'regions'",
        ],
        id="missing-regions",
    ),
    pytest.param(
        {"exp.yaml": B.replace("phases: {baseline: 1s, fault: 2s, recovery: 1s}\n", "")},
        [
            "exp.yaml:1:1: missing required key 'phases'",
        ],
        id="missing-phases",
    ),
    pytest.param(
        {"exp.yaml": "title: T\nregions: {local: {}}\nphases: {baseline: 1s, fault: 2s, recovery: 1s}\n"},
        [
            "exp.yaml:1:1: missing required key 'steady_state'",
        ],
        id="missing-steady-state",
    ),
    pytest.param(
        {"exp.yaml": "{}\n"},
        [
            "exp.yaml:1:1: missing required key 'title'",
            "exp.yaml:1:1: missing required key 'regions'",
            "exp.yaml:1:1: missing required key 'steady_state'",
            "exp.yaml:1:1: missing required key 'phases'",
        ],
        id="empty-mapping",
    ),
    pytest.param(
        {"exp.yaml": 'a: &a ["lol","lol"]\nb: &b [*a,*a]\nc: &c [*b,*b]\nd: [*c,*c]\n'},
        [
            "exp.yaml:2:8: malformed YAML: anchors and aliases (*name) are not supported in experiments",
        ],
        id="alias-bomb",
    ),
    pytest.param(
        {"exp.yaml": B + "description: '" + "x" * 1_000_001 + "'\n"},
        [
            "exp.yaml: file too large (over 1000000 bytes); experiments are small documents",
        ],
        id="over-1mb",
    ),
    pytest.param(
        {"exp.yaml": B + "title: again\n"},
        [
            "exp.yaml:9:1: title: duplicate key",
        ],
        id="duplicate-key",
    ),
    pytest.param(
        {"exp.yaml": B.replace("url: /health", "url: '/${svc}/health'")},
        [
            "exp.yaml:7:19: steady_state.probes[0].http.url: unknown variable '${svc}'; declare it under 'variables' or pass --var svc=...",
        ],
        id="unknown-variable",
    ),
    pytest.param(
        {
            "exp.yaml": probe("        # header\n").replace(
                "http: {url: /health}", 'http: {url: /health, headers: {Authorization: "Bearer ${secret.tokn}"}}'
            )
            + "secrets: {token: {env: API_TOKEN}}\n"
        },
        [
            "exp.yaml:7:53: steady_state.probes[0].http.headers.Authorization: unknown secret 'tokn'; did you mean 'token'?",
        ],
        id="unknown-secret",
    ),
    pytest.param(
        {"exp.yaml": B.replace("title: T", "title: T ${secret.token}") + "secrets: {token: {env: API_TOKEN}}\n"},
        [
            "exp.yaml:1:8: title: ${secret.token} is resolved only in http url/headers/body, command env, rollback commands, tls.key and prometheus/burn_rate auth and headers; not here",
        ],
        id="secret-in-title",
    ),
    pytest.param(
        {
            "exp.yaml": B.replace("http: {url: /health}", 'command: {argv: [curl, "${secret.token}"]}')
            + "secrets: {token: {env: API_TOKEN}}\n"
        },
        [
            "exp.yaml:7:30: steady_state.probes[0].command.argv[1]: ${secret.token} is resolved only in http url/headers/body, command env, rollback commands, tls.key and prometheus/burn_rate auth and headers; not here",
        ],
        id="secret-in-command-argv",
    ),
    pytest.param(
        {"exp.yaml": B.replace("http: {url: /health}", "command: {argv: curl -f http://127.0.0.1/}")},
        [
            "exp.yaml:7:23: steady_state.probes[0].command.argv: expected a list of arguments such as [curl, -fsS, URL]; a string is not run through a shell",
        ],
        id="command-shell-string",
    ),
    pytest.param(
        {"exp.yaml": B + "rollbacks:\n  - name: restart\n    command: systemctl restart shop\n"},
        [
            "exp.yaml:11:14: rollbacks[0].command: expected a list of arguments such as [curl, -fsS, URL]; a string is not run through a shell",
        ],
        id="rollback-shell-string",
    ),
    pytest.param(
        {"exp.yaml": B.replace("http: {url: /health}", "python: {file: probes/nope.py}")},
        [
            "exp.yaml:7:22: steady_state.probes[0].python.file: no such file: {tmp}/probes/nope.py",
        ],
        id="python-file-missing",
    ),
    pytest.param(
        {"exp.yaml": B + "toxiproxy: {proxies: {p: {}}}\nmethod:\n  - fault: test.noop\n    proxy: p\n    start: 5s\n"},
        [
            "exp.yaml:13:12: method[0].start: starts at 5s, but the fault phase lasts 2s",
        ],
        id="method-starts-after-fault-phase",
    ),
    pytest.param(
        {
            "exp.yaml": B
            + "toxiproxy: {proxies: {p: {}}}\nmethod:\n  - fault: test.noop\n    proxy: p\n    start: 1s\n    duration: 1500ms\n"
        },
        [
            "exp.yaml:14:15: method[0].duration: ends at 2.5s (start + duration), after the fault phase ends at 2s; shorten it or lengthen phases.fault",
        ],
        id="method-ends-after-fault-phase",
    ),
    pytest.param(
        {
            "exp.yaml": B.replace(
                "      http: {url: /health}\n",
                "      http: {url: /health}\n    - name: health\n      http: {url: /other}\n",
            )
        },
        [
            "exp.yaml:8:13: steady_state.probes[1].name: duplicate probe name 'health' (first declared at line 6)",
        ],
        id="duplicate-probe-name",
    ),
    pytest.param(
        {"exp.yaml": B + "include: [probes/missing.yaml]\n"},
        [
            "exp.yaml:9:11: include[0]: cannot include 'probes/missing.yaml': no such file",
        ],
        id="bad-include-path",
    ),
    pytest.param(
        {"exp.yaml": B + 'include: ["a\\0b.yaml"]\n'},
        [
            "exp.yaml:9:11: include[0]: cannot include 'a\x00b.yaml': is not a valid path (it contains a NUL character)",
        ],
        id="include-path-with-nul",
    ),
    pytest.param(
        {"exp.yaml": b"\x7fELF\x02\x01\x01\x00\x00"},
        [
            "exp.yaml: not a text file (it contains NUL bytes); expected YAML or JSON",
        ],
        id="binary-file",
    ),
    pytest.param(
        {"exp.yaml": "title: caf\xe9\n".encode("latin-1")},
        [
            "exp.yaml:1:11: not UTF-8 text (byte 0xe9); save the file as UTF-8",
        ],
        id="not-utf8",
    ),
    pytest.param(
        {
            "exp.yaml": B.replace("      http: {url: /health}\n", "      use: helth\n") + "include: [defs.yaml]\n",
            "defs.yaml": "probes:\n  health: {http: {url: /health}}\n",
        },
        [
            "exp.yaml:7:12: steady_state.probes[0].use: unknown probe definition 'helth'; did you mean 'health'?",
        ],
        id="unknown-template",
    ),
    pytest.param(
        {
            "exp.yaml": B.replace("      http: {url: /health}\n", "      use: health\n") + "include: [defs.yaml]\n",
            "defs.yaml": "probes:\n  health:\n    http: {url: /health, timeout: soon}\n",
        },
        [
            "defs.yaml:3:35: probes.health.http.timeout: expected a duration like '300ms', '2s' or '1m', got 'soon'",
        ],
        id="error-in-included-file",
    ),
    pytest.param(
        {"exp.yaml": B.replace("baseline: 1s", "baseline: 0s")},
        [
            "exp.yaml:8:20: phases.baseline: must be more than 0s",
        ],
        id="baseline-zero",
    ),
    pytest.param(
        {
            "exp.yaml": B.replace('{base_url: "http://127.0.0.1:8101"}', "{}").replace(
                "http: {url: /health}", "tcp: {port: 5432}"
            )
        },
        [
            "exp.yaml:7:12: steady_state.probes[0].tcp: no host: set 'host' here, or host or base_url for region 'local'",
        ],
        id="tcp-without-host",
    ),
    pytest.param(
        {"exp.yaml": B.replace('{base_url: "http://127.0.0.1:8101"}', "{host: 127.0.0.1}")},
        [
            "exp.yaml:7:19: steady_state.probes[0].http.url: a path needs a base_url; not set for region 'local'",
        ],
        id="path-without-base-url",
    ),
    pytest.param(
        {"exp.yaml": B + "guardrails:\n  - {name: g, probe: helth, consecutive_failures: 3}\n"},
        [
            "exp.yaml:10:22: guardrails[0].probe: unknown steady-state probe 'helth'; did you mean 'health'?",
        ],
        id="guardrail-unknown-probe",
    ),
    pytest.param(
        {"exp.yaml": B + "guardrails:\n  - {name: g, probe: health}\n"},
        [
            "exp.yaml:10:5: guardrails[0]: a guardrail needs at least one of success_ratio, p99 or consecutive_failures",
        ],
        id="guardrail-without-condition",
    ),
    pytest.param(
        {"exp.yaml": probe("      tcp: {port: 1}\n")},
        [
            "exp.yaml:8:12: steady_state.probes[0].tcp: a probe is one of http, tcp, command, python, chaostoolkit, prometheus, burn_rate, kubernetes; 'http' is also given",
        ],
        id="two-probe-kinds",
    ),
    pytest.param(
        {"exp.yaml": B.replace("      http: {url: /health}\n", "      every: 1s\n")},
        [
            "exp.yaml:6:7: steady_state.probes[0]: missing the probe itself: one of 'http', 'tcp', 'command', 'python', 'chaostoolkit', 'prometheus', 'burn_rate', 'kubernetes'",
        ],
        id="no-probe-kind",
    ),
    pytest.param(
        {"exp.yaml": B.replace("url: /health", "url: /health, body_regex: '(ok'")},
        [
            "exp.yaml:7:40: steady_state.probes[0].http.body_regex: not a valid regular expression: missing ), unterminated subpattern at position 0",
        ],
        id="bad-regex",
    ),
    pytest.param(
        {"exp.yaml": B.replace("url: /health", "url: /health, expect_status: [200, 99]")},
        [
            "exp.yaml:7:49: steady_state.probes[0].http.expect_status[1]: must be at least 100, got 99",
        ],
        id="status-out-of-range",
    ),
    pytest.param(
        {"exp.yaml": B + "toxiproxy:\n  proxies: {p: {server: staging}}\n"},
        [
            "exp.yaml:10:25: toxiproxy.proxies.p.server: unknown toxiproxy server 'staging'; known: default",
        ],
        id="unknown-toxiproxy-server",
    ),
    pytest.param(
        {"exp.yaml": B + "toxiproxy:\n  proxies: {p: {listen: '127.0.0.1:21001'}}\n"},
        [
            "exp.yaml:10:16: toxiproxy.proxies.p: give both listen and upstream (chaosrun creates the proxy) or neither (it exists already)",
        ],
        id="listen-without-upstream",
    ),
    pytest.param(
        {"exp.yaml": B.replace('"http://127.0.0.1:8101"', "127.0.0.1:8101")},
        [
            "exp.yaml:3:21: regions.local.base_url: expected an absolute URL such as 'http://127.0.0.1:8080', got '127.0.0.1:8101'",
        ],
        id="bad-base-url",
    ),
    pytest.param(
        {"exp.yaml": probe("      after: {recover_within: 5s}\n")},
        [
            "exp.yaml:8:31: steady_state.probes[0].after.recover_within: longer than the recovery phase (phases.recovery: 1s)",
        ],
        id="recover-within-too-long",
    ),
    pytest.param(
        {"exp.yaml": probe("      during: skip\n")},
        [
            "exp.yaml:8:15: steady_state.probes[0].during: expected 'ignore' or a tolerance mapping, got 'skip'",
        ],
        id="during-not-ignore",
    ),
    pytest.param(
        {"exp.yaml": B.replace("url: /health", "url: /health, json_expect: ok")},
        [
            "exp.yaml:7:41: steady_state.probes[0].http.json_expect: json_expect needs json_path (the field to compare)",
        ],
        id="json-expect-without-path",
    ),
    pytest.param(
        {"exp.yaml": B + "variables: {svc: {a: 1}}\n"},
        [
            "exp.yaml:9:18: variables.svc: expected a value (text or number), got a mapping",
        ],
        id="variable-value-mapping",
    ),
    pytest.param(
        {"exp.yaml": B.replace("title: T", "title: T\x07")},
        [
            "exp.yaml:1:9: malformed YAML: special characters are not allowed (#x0007)",
        ],
        id="control-character",
    ),
    pytest.param(
        {"exp.yaml": "a: " + "[" * 3000 + "]" * 3000 + "\n"},
        [
            "exp.yaml:1:1: malformed YAML: nested too deeply",
        ],
        id="deep-nesting",
    ),
    pytest.param(
        {"exp.yaml": "title: ''\nregions: {}\nsteady_state: {probes: []}\nphases: {baseline: 1s, fault: 2m}\n"},
        [
            "exp.yaml:1:8: title: expected a non-empty string",
            "exp.yaml:2:10: regions: expected at least one region, such as 'local: {base_url: http://127.0.0.1:8080}'",
            "exp.yaml:3:24: steady_state.probes: expected at least one probe",
            "exp.yaml:4:9: phases: missing required key 'recovery'",
        ],
        id="many-problems",
    ),
    pytest.param(
        {"exp.yaml": B.replace("url: /health", "url: '${region.url}/health'")},
        [
            "exp.yaml:7:19: steady_state.probes[0].http.url: unknown placeholder 'region.url'; did you mean 'region.base_url'?",
        ],
        id="unknown-region-placeholder",
    ),
    pytest.param(
        {
            "exp.yaml": B
            + "toxiproxy: {proxies: {p: {}}}\nmethod:\n  - {fault: test.noop, proxy: p, name: slow}\n  - {fault: test.noop, proxy: p, name: slow}\n"
        },
        [
            "exp.yaml:12:40: method[1].name: duplicate step name 'slow' (first declared at line 11)",
        ],
        id="duplicate-step-name",
    ),
    pytest.param(
        {
            "exp.yaml": B
            + "guardrails:\n  - {name: g, probe: health, p99: '< 1s'}\n  - {name: g, probe: health, p99: '< 2s'}\n"
        },
        [
            "exp.yaml:11:12: guardrails[1].name: duplicate guardrail name 'g' (first declared at line 10)",
        ],
        id="duplicate-guardrail-name",
    ),
    pytest.param(
        {"exp.yaml": "probes:\n  health: {http: {url: /health}}\n"},
        [
            "exp.yaml:1:1: this is a file of probe definitions for 'include:', not an experiment; validate the experiment",
        ],
        id="probe-definitions-file",
    ),
    pytest.param(
        {"exp.yaml": "title: Game day\nexperiments:\n  - file: a.yaml\n"},
        [
            "exp.yaml:1:1: this is a game-day plan, not an experiment; run it with 'chaosrun gameday'",
        ],
        id="game-day-plan",
    ),
]


@pytest.mark.parametrize(("files", "expected"), CASES)
def test_bad_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, str | bytes], expected: list[str]
) -> None:
    expected = [line.replace("{tmp}", str(tmp_path)) for line in expected]
    assert issues_of(tmp_path, monkeypatch, files) == expected


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationFailed) as info:
        load_experiment("nope.yaml")
    assert str(info.value) == "nope.yaml: no such file"


def test_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "experiments").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValidationFailed) as info:
        load_experiment("experiments")
    assert str(info.value) == "experiments: is a directory, not an experiment file"


def test_invalid_override_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = issues_of(tmp_path, monkeypatch, {"exp.yaml": B}, variables={"bad name": "x"})
    assert lines == ["exp.yaml: --var bad name=...: invalid variable name; use letters, digits, '_', '.', '-'"]


def test_unknown_variable_resolved_by_override_or_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "exp.yaml").write_text(B.replace("url: /health", "url: '/${svc}/health'"))
    monkeypatch.chdir(tmp_path)
    assert load_experiment("exp.yaml", variables={"svc": "a"}, environ={}).probes[0].spec.url == "/a/health"  # type: ignore[union-attr]
    env = {"CHAOSRUN_VAR_svc": "b"}
    assert load_experiment("exp.yaml", environ=env).probes[0].spec.url == "/b/health"  # type: ignore[union-attr]
