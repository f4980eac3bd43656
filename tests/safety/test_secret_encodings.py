"""Issue 10: a secret is masked in every encoding it takes on its way to an output (raw, JSON
escapes, Python str and bytes reprs with non-ASCII as `\\xc3\\xa4` and doubled backslashes,
percent-encoding, base64 in basic auth), masked before any cut, and a cut never splits a mask."""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from chaosrun.safety.secret import MASK, Redactor, cut_head, cut_tail, encodings
from tests.cli import run_cli

SECRETS = ["pässwort\\Zq91xK\"q'", "Zq\\\\9'x\"ü€k", "plain-token-1234"]


@pytest.mark.parametrize("secret", SECRETS)
def test_every_encoding_of_a_secret_is_masked(secret: str) -> None:
    redact = Redactor([secret])
    shown = [
        secret,
        json.dumps(secret),
        json.dumps(json.dumps(secret)),
        repr(secret),
        repr(secret.encode()),
        json.dumps(repr(secret.encode())),
        repr("Bearer " + secret),
        quote(secret, safe=""),
        "Authorization: Basic " + base64.b64encode(f"user:{secret}".encode()).decode(),
    ]
    for text in shown:
        masked = redact(f"before {text} after")
        assert MASK in masked, text
        for form in encodings(secret):
            assert form not in masked, (text, form)


def test_a_cut_never_splits_a_mask() -> None:
    text = "a" * 10 + MASK + "b" * 10
    for limit in range(len(text) + 1):
        head, tail = cut_head(text, limit), cut_tail(text, limit)
        assert len(head) <= limit and len(tail) <= limit
        assert head.count("*") in (0, 3) and tail.count("*") in (0, 3), (limit, head, tail)


SECRET = "pässwort\\Zq91xK\"q'"


@pytest.fixture
def echo_server() -> Iterator[int]:
    """A raw HTTP server answering with an invalid header that echoes the request's Authorization
    (aiohttp's error then shows it as a bytes repr: `p\\xc3\\xa4sswort\\\\Zq91xK`)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.settimeout(2)
                data = conn.recv(65536)
                auth = b"none"
                for line in data.split(b"\r\n"):
                    if line.lower().startswith(b"authorization:"):
                        auth = line.split(b":", 1)[1].strip()
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Echo " + auth + b"\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(sock.getsockname()[1])
    stop.set()
    thread.join(timeout=5)
    sock.close()


def _rollback(name: str, script: str) -> str:
    argv = [sys.executable, "-c", script, "${secret.token}"]
    return f"  - name: {name}\n    command: {json.dumps(argv)}\n    timeout: 20s\n"


def test_no_encoding_of_a_secret_reaches_any_output(echo_server: int, tmp_path: Path) -> None:
    encoded = (
        "import sys, json, base64, urllib.parse; s = sys.argv[1]; "
        "print(json.dumps(s)); print(repr(s.encode())); print(urllib.parse.quote(s, safe='')); "
        "print('Authorization: Basic ' + base64.b64encode(('u:' + s).encode()).decode()); sys.exit(1)"
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        "title: secret encodings\n"
        f'regions: {{local: {{base_url: "http://127.0.0.1:{echo_server}"}}}}\n'
        "secrets: {token: {env: CHAOSRUN_TEST_SECRET}}\n"
        "steady_state:\n  probes:\n    - name: echo\n"
        '      http: {url: /, timeout: 1s, headers: {Authorization: "Bearer ${secret.token}"}}\n'
        "      every: 100ms\n"
        "phases: {baseline: 300ms, fault: 300ms, recovery: 300ms}\n"
        "method: []\n"
        "rollbacks:\n"
        + _rollback("at-65530", "import sys; sys.stdout.write('x' * 65530 + sys.argv[1]); sys.exit(1)")
        + _rollback("at-65534", "import sys; sys.stdout.write('x' * 65534 + sys.argv[1]); sys.exit(1)")
        + _rollback("encoded", encoded)
    )
    out, state = tmp_path / "out", tmp_path / "state"
    done = run_cli(
        "run", str(exp), "--out", str(out), state_dir=state, env={"CHAOSRUN_TEST_SECRET": SECRET}, timeout_s=120
    )
    assert done.returncode == 5, done.stdout + done.stderr  # the rollbacks fail on purpose
    journal = json.loads((out / "journal.json").read_text())
    assert [r["ok"] for r in journal["rollbacks"]] == [False, False, False]
    assert any("Invalid header" in e for e in journal["samples"]["errors"]), journal["samples"]["errors"]
    assert MASK in journal["rollbacks"][0]["error"]
    forms = encodings(SECRET) | {SECRET[:6], repr(SECRET.encode())[2:14]}
    texts = {"terminal": done.stdout + done.stderr}
    for folder in (out, state):
        for path in folder.rglob("*"):
            if path.is_file():
                texts[str(path)] = path.read_bytes().decode("utf-8", "replace")
    assert any(p.endswith("report.html") for p in texts), sorted(texts)
    for where, text in texts.items():
        for form in forms:
            assert form not in text, f"{form!r} leaked into {where}"
