"""Chaos Toolkit providers: parse a `provider:` mapping, and run one through chaostoolkit-lib.

Used by the `chaostoolkit.action` fault kind (chaosrun/faults/chaostoolkit.py: the action and its
rollback), by the `chaostoolkit:` probe kind (chaosrun/probes/chaostoolkit.py: one sample = one
provider run) and by the loader (chaosrun/loader/probes.py: the probe's `provider:`).

The `provider:` mapping is Chaos Toolkit's own (python, process or http) and runs through
chaostoolkit-lib (`chaoslib.activity.run_activity`) on a worker thread, so every Chaos Toolkit
extension works unchanged.

Stricter than Chaos Toolkit, on purpose:
- an action whose process exits non-zero, or whose HTTP call answers >= 400, failed (Chaos
  Toolkit only logs a warning): the fault is not there, so the run must not report "held";
- process `arguments` must be a list or mapping: a string would run through `sh -c`, and a kill
  then leaves its children running (give `path: /bin/sh, arguments: ["-c", "..."]` instead);
- `verify_tls: false` is refused;
- every activity is bounded by the step's (or probe's) `timeout` (process and http providers
  without their own `timeout` get it, so the child or the request ends with it).

chaostoolkit-lib is imported on first use only: `chaosrun validate` never imports it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import os
import re
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..node import Document, Node
from ..sample import Outcome
from ..units import format_duration

if TYPE_CHECKING:
    from ..faults.base import JSON

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "PROVIDER_TYPES",
    "RUN_ID",
    "CtkProvider",
    "ProviderFailed",
    "ProviderType",
    "WorkerThread",
    "parse_configuration",
    "parse_provider",
    "run_ctk_probe",
    "run_provider",
]

ProviderType = Literal["python", "process", "http"]
PROVIDER_TYPES: tuple[ProviderType, ...] = ("python", "process", "http")
DEFAULT_TIMEOUT_S = 60.0
_KEYS: dict[ProviderType, tuple[str, ...]] = {
    "python": ("type", "module", "func", "arguments", "secrets"),
    "process": ("type", "path", "arguments", "timeout"),
    "http": ("type", "url", "method", "headers", "arguments", "timeout", "verify_tls", "max_retries"),
}
_REQUIRED: dict[ProviderType, tuple[str, ...]] = {"python": ("module", "func"), "process": ("path",), "http": ("url",)}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_MAX_TEXT = 200
_LATE = re.compile(r"\$\{(?:region|run)\.[A-Za-z0-9_.-]*\}")
RUN_ID = "${run.id}"  # replaced by the run id when the plan is resolved (name what you make after the run)


# --- parsing ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CtkProvider:
    """A Chaos Toolkit provider mapping, kept as canonical JSON (what chaoslib and the ledger get)."""

    type: ProviderType
    spec_json: str

    def mapping(self) -> dict[str, JSON]:
        value = json.loads(self.spec_json)
        assert isinstance(value, dict)
        return value

    def describe(self) -> str:
        """`process /bin/sh -c 'dd ...'`, `python mymod.fill_disk`, `http POST http://...`."""
        spec = self.mapping()
        if self.type == "python":
            return _cut(f"python {spec.get('module')}.{spec.get('func')}")
        if self.type == "process":
            args = spec.get("arguments")
            if isinstance(args, list):
                words = " ".join(_quote(str(a)) for a in args)
            elif isinstance(args, dict):
                words = " ".join(f"{k} {_quote(str(v))}" for k, v in args.items())
            else:
                words = ""
            return _cut(f"process {spec.get('path')} {words}".rstrip())
        return _cut(f"http {str(spec.get('method') or 'GET').upper()} {spec.get('url')}")


def _quote(word: str) -> str:
    return word if word and not re.search(r"[\s'\"]", word) else "'" + word.replace("'", "'\\''") + "'"


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 3] + "..."


def _json_value(node: Node) -> JSON:
    """Any YAML value as JSON; strings get `${var}` substitution (Chaos Toolkit's own `${x}` stay)."""
    if node.is_mapping:
        entries = node.entries() or []
        return {key: _json_value(child) for key, child in entries}
    if node.is_sequence:
        return [_json_value(child) for child in node.items() or []]
    value = node.scalar()
    if isinstance(value, float) and value != value:  # NaN has no JSON
        node.error("expected a number, got NaN")
        return None
    if isinstance(value, str):
        for m in _LATE.finditer(value):
            if m.group(0) != RUN_ID:
                node.error(f"{m.group(0)} is not resolved in a Chaos Toolkit provider; only {RUN_ID} is")
    return value


def parse_provider(node: Node, configuration: Mapping[str, str]) -> CtkProvider | None:
    """Read a Chaos Toolkit provider mapping; `${name}` for a configuration key is left to chaoslib."""
    # Chaos Toolkit substitutes `${key}` from the configuration at run time: keep those in place.
    keep = {key: "${" + key + "}" for key in configuration}
    doc = Document(file=node.doc.file, variables={**node.doc.variables, **keep}, issues=node.doc.issues)
    node = Node(node.raw, doc, node.path)
    if not node.is_mapping:
        node.error(f"expected a Chaos Toolkit provider mapping such as {{type: process, path: ...}}, got {node.kind}")
        return None
    type_raw = next((v for k, v in node.raw.value if getattr(k, "value", None) == "type"), None)
    type_node = None if type_raw is None else Node(type_raw, doc, f"{node.path}.type")
    if type_node is None:
        node.error(f"missing required key 'type' (one of {', '.join(PROVIDER_TYPES)})")
        return None
    chosen = type_node.choice(PROVIDER_TYPES)
    if chosen is None:
        return None
    ptype: ProviderType = next(t for t in PROVIDER_TYPES if t == chosen)
    before = len(doc.issues)
    fields = node.mapping(_KEYS[ptype], required=_REQUIRED[ptype])
    if fields is None:
        return None
    spec: dict[str, JSON] = {"type": ptype}
    for key, child in fields.items():
        if key != "type":
            spec[key] = _json_value(child)
    _check_provider(ptype, spec, fields)
    if len(doc.issues) != before:
        return None
    return CtkProvider(type=ptype, spec_json=json.dumps(spec, sort_keys=True))


def _check_provider(ptype: ProviderType, spec: Mapping[str, JSON], fields: Mapping[str, Node]) -> None:
    """Chaos Toolkit's per-type rules, plus chaosrun's stricter ones (module docstring)."""
    for key in _REQUIRED[ptype]:
        if key in spec and (not isinstance(spec[key], str) or not str(spec[key]).strip()):
            fields[key].error("expected a non-empty string")
    if ptype == "python":
        module = spec.get("module")
        if isinstance(module, str) and module.strip() and not _MODULE.match(module):
            fields["module"].error(
                f"expected a dotted Python module name such as 'chaosk8s.pod.actions', got {module!r}"
            )
        if "arguments" in spec and not isinstance(spec["arguments"], dict):
            fields["arguments"].error("expected a mapping of argument names to values")
        if "secrets" in spec:  # accepted and then ignored would run an extension without its credentials
            fields["secrets"].error(
                "chaosrun does not pass Chaos Toolkit secret scopes to providers; remove 'secrets' and give the "
                "values through 'configuration' (or the provider's own environment)"
            )
    elif ptype == "process":
        args = spec.get("arguments")
        if isinstance(args, str):
            fields["arguments"].error(
                "give the arguments as a list: Chaos Toolkit runs a string through 'sh -c', and a kill then "
                "leaves its children running; for a shell, use path: /bin/sh and arguments: ['-c', '...']"
            )
        elif args is not None and not isinstance(args, list | dict):
            fields["arguments"].error("expected a list of arguments (or a mapping of option -> value)")
        if isinstance(spec.get("timeout"), list):
            fields["timeout"].error("a process provider takes one number of seconds ([connect, read] is for http)")
        else:
            _check_timeout(spec, fields)
    else:
        url = spec.get("url")
        if isinstance(url, str) and not url.startswith(("http://", "https://", "${")):
            fields["url"].error(f"expected an http:// or https:// URL, got {url!r}")
        if "headers" in spec and not (
            isinstance(spec["headers"], dict) and all(isinstance(v, str) for v in spec["headers"].values())
        ):
            fields["headers"].error("expected a mapping of header names to strings")
        if "method" in spec and not isinstance(spec["method"], str):
            fields["method"].error("expected an HTTP method such as GET or POST")
        if spec.get("verify_tls") is False:
            fields["verify_tls"].error("chaosrun never disables TLS verification; remove verify_tls or set it true")
        if "max_retries" in spec and (
            not isinstance(spec["max_retries"], int) or isinstance(spec["max_retries"], bool)
        ):
            fields["max_retries"].error("expected a whole number")
        _check_timeout(spec, fields)


def _check_timeout(spec: Mapping[str, JSON], fields: Mapping[str, Node]) -> None:
    timeout = spec.get("timeout")
    if timeout is None:
        return
    parts = timeout if isinstance(timeout, list) else [timeout]
    if not parts or len(parts) > 2 or not all(_is_positive(p) for p in parts):
        fields["timeout"].error("expected a number of seconds (Chaos Toolkit's unit), such as 10")


def _is_positive(value: JSON) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


def parse_configuration(node: Node) -> tuple[tuple[str, str], ...] | None:
    entries = node.entries()
    if entries is None:
        return None
    out: list[tuple[str, str]] = []
    for key, child in entries:
        if not _VAR.fullmatch("${" + key + "}"):
            child.error(f"configuration key {key!r} must be letters, digits, '_', '.', '-'")
            continue
        value = child.str(non_empty=False)
        if value is not None:
            out.append((key, value))
    return tuple(out) if len(out) == len(entries) else None


# --- running activities -----------------------------------------------------------------


class ProviderFailed(Exception):
    """An activity failed (chaoslib's ActivityFailed, or our stricter checks); `str()` says why."""


class WorkerThread:
    """The worker thread a python or http provider runs on (chaoslib calls it on a thread).

    A thread cannot be killed: when its caller stops waiting (the step's timeout, a cancelled
    task), the provider keeps running and may still do its work later. This handle lets the
    caller see whether it still runs and wait for it, without blocking the event loop.
    """

    __slots__ = ("_future",)

    def __init__(self) -> None:
        self._future: asyncio.Future[object] | None = None

    def running(self) -> bool:
        """True while the provider's thread has not returned (or raised)."""
        return self._future is not None and not self._future.done()

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the thread to end; True when it has (or never started)."""
        if self._future is not None and not self._future.done() and seconds > 0:
            await asyncio.wait({self._future}, timeout=seconds)
        return not self.running()

    async def run(self, spec: dict[str, JSON], configuration: dict[str, str], kind: str) -> object:
        """`_run_sync` on a worker thread (the default executor, as `asyncio.to_thread`); the
        thread's own future is shielded, so a cancelled caller leaves it observable here."""
        call = functools.partial(contextvars.copy_context().run, _run_sync, spec, configuration, kind)
        self._future = asyncio.get_running_loop().run_in_executor(None, call)
        return await asyncio.shield(self._future)


def _bounded(spec: dict[str, JSON], timeout_s: float) -> dict[str, JSON]:
    """Give process/http providers without their own timeout ours, so the child or request ends too."""
    if spec.get("type") in ("process", "http") and "timeout" not in spec:
        return {**spec, "timeout": timeout_s}
    return spec


def _run_sync(spec: dict[str, JSON], configuration: dict[str, str], kind: str) -> object:
    """Run one provider with chaoslib on this thread; ActivityFailed -> ProviderFailed."""
    from chaoslib.activity import run_activity
    from chaoslib.exceptions import ActivityFailed

    activity = {"type": kind, "name": "chaosrun", "provider": spec}
    if spec.get("type") == "process":
        path = os.path.expanduser(str(spec.get("path") or ""))  # as chaoslib does
        if shutil.which(path) is None:
            raise ProviderFailed(f"executable {path!r} not found (not on PATH or not executable)")
    try:
        return run_activity(activity, dict(configuration), {})
    except ActivityFailed as exc:
        raise ProviderFailed(_clean(str(exc)) or "activity failed") from exc
    except ModuleNotFoundError as exc:
        raise ProviderFailed(f"module {exc.name!r} not found (is it installed, or on PYTHONPATH?)") from exc
    except AttributeError as exc:
        raise ProviderFailed(f"{_clean(str(exc))}") from exc


def _clean(text: str) -> str:
    return _cut(_ADDRESS.sub("", text))


def _result_error(ptype: str, result: object) -> str | None:
    """Why an action's result counts as failed (non-zero exit, HTTP >= 400), else None."""
    if not isinstance(result, dict):
        return None
    status = result.get("status")
    if ptype == "process" and isinstance(status, int) and status != 0:
        stderr = str(result.get("stderr") or "").strip()
        return f"exit code {status}" + (f": {_cut(stderr[-_MAX_TEXT:])}" if stderr else "")
    if ptype == "http" and isinstance(status, int) and status >= 400:
        return f"HTTP status {status}"
    return None


async def _execute(
    spec: dict[str, JSON], configuration: dict[str, str], kind: str, thread: WorkerThread | None = None
) -> object:
    """Process providers run as chaosrun children: no shell, their own session, the whole group
    killed on timeout (chaoslib's subprocess.run would leave them in chaosrun's process group,
    where a Ctrl-C typed at the terminal kills a rollback half way). The result keeps Chaos
    Toolkit's shape `{status, stdout, stderr}`. Python and http providers go through chaoslib,
    on a worker thread (`thread`, when given, tracks it)."""
    if spec.get("type") != "process":
        if thread is not None:
            return await thread.run(spec, configuration, kind)
        return await asyncio.to_thread(_run_sync, spec, configuration, kind)
    from chaoslib import substitute

    from ..safety.procs import run_argv

    resolved = substitute(spec, configuration, {})
    path = shutil.which(os.path.expanduser(str(resolved.get("path") or "")))  # noqa: ASYNC240  (no I/O: ~ as chaoslib)
    if path is None:
        raise ProviderFailed(f"executable {str(spec.get('path'))!r} not found (not on PATH or not executable)")
    raw = resolved.get("arguments") or []
    argv = [path]
    if isinstance(raw, dict):  # Chaos Toolkit flattens a mapping to `name value` pairs
        for name, value in raw.items():
            argv.append(str(name))
            if value not in (None, ""):
                argv.append(str(value))
    else:
        argv += [str(a) for a in raw]
    timeout = resolved.get("timeout")
    done = await run_argv(
        argv, timeout_s=float(timeout) if isinstance(timeout, int | float) else DEFAULT_TIMEOUT_S, separate_stderr=True
    )
    if done.exit_code is None:
        raise ProviderFailed(
            f"activity took too long: {done.error}" if done.error and "timeout" in done.error else str(done.error)
        )
    return {"status": done.exit_code, "stdout": done.stdout, "stderr": done.stderr}


async def run_provider(
    spec: Mapping[str, JSON],
    *,
    configuration: Mapping[str, str] | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    thread: WorkerThread | None = None,
) -> object:
    """Run a provider mapping as a Chaos Toolkit action; its output on success.

    Raises ProviderFailed (ActivityFailed, non-zero exit, HTTP >= 400) or TimeoutError.
    A timed-out (or cancelled) python or http provider keeps its worker thread until it returns
    (threads cannot be killed), and may still do its work then: pass `thread` to see whether it
    still runs, and to wait for it (e.g. before running the action's rollback).
    """
    bounded = _bounded(dict(spec), timeout_s)
    async with asyncio.timeout(timeout_s):
        result = await _execute(bounded, dict(configuration or {}), "action", thread)
    why = _result_error(str(spec.get("type")), result)
    if why is not None:
        raise ProviderFailed(why)
    return result


async def run_ctk_probe(
    provider: Mapping[str, JSON], timeout_s: float, *, configuration: Mapping[str, str] | None = None
) -> Outcome:
    """One sample of a Chaos Toolkit provider used as a probe; never raises.

    Good sample: python returned anything but False; process exited 0; http answered < 400.
    `status` is the exit code or HTTP status. Error texts are stable (no addresses, no timings).
    """
    ptype = str(provider.get("type"))
    bounded = _bounded(dict(provider), timeout_s)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout_s):
            result = await _execute(bounded, dict(configuration or {}), "probe")
    except TimeoutError:
        return Outcome(False, time.perf_counter() - started, None, f"timeout after {format_duration(timeout_s)}")
    except ProviderFailed as exc:
        text = str(exc)
        if "took too long" in text:  # chaoslib's words for the provider's own timeout
            text = f"timeout after {format_duration(timeout_s)}"
        return Outcome(False, time.perf_counter() - started, None, text)
    except Exception as exc:  # a broken provider is a failed sample, not a crashed run
        return Outcome(False, time.perf_counter() - started, None, _clean(f"{type(exc).__name__}: {exc}"))
    latency_s = time.perf_counter() - started
    status = result.get("status") if isinstance(result, dict) else None
    status = status if isinstance(status, int) and not isinstance(status, bool) else None
    if ptype == "python" and result is False:
        return Outcome(False, latency_s, None, "returned False")
    why = _result_error(ptype, result)
    if why is not None:
        return Outcome(False, latency_s, status, f"exit code {status}" if ptype == "process" else f"status {status}")
    return Outcome(True, latency_s, status)
