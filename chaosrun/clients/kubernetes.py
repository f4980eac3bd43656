"""Access to the Kubernetes API through the official client: configuration, TLS, errors.

Configuration: `kubeconfig` (+ `context`) from the step, else `$KUBECONFIG`, else in-cluster
(`KUBERNETES_SERVICE_HOST`), else `~/.kube/config`. Each call loads its own client
Configuration, never the process-wide default.

TLS is verified always: a kubeconfig with `insecure-skip-tls-verify` is refused, and plain http
is accepted only to a loopback address (e.g. `kubectl proxy`), never to a remote API server.
Both are PlanRefused, raised before any request is sent.

Calls: `api_call` runs one unit of work on the calling thread with a fresh ApiClient;
`api_call_in_thread` runs it on a daemon thread (never joined at exit, so a stop signal is
not held up by a hung API server). API errors (ApiException), transport
errors (urllib3) and unreadable answers become FaultFailed naming the API server, what was being
done and what to check next. Requests pass `_request_timeout=REQUEST_TIMEOUT` (or a shorter one).

The `kubernetes` package (and urllib3) is imported on first use only, so `chaosrun validate`
and `--help` stay fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

from ..errors import FaultFailed, PlanRefused

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, Configuration, CoreV1Api

__all__ = [
    "REQUEST_TIMEOUT",
    "api_call",
    "api_call_in_thread",
    "check_tls",
    "configuration",
    "core_v1",
    "in_daemon_thread",
]

T = TypeVar("T")
REQUEST_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds for every API call
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
_RETRIES = 2


def configuration(kubeconfig: str | None, context: str | None) -> Configuration:
    """Load a client configuration (never the process-wide default); refuse unverified TLS."""
    from kubernetes import client, config

    cfg = client.Configuration()
    path = kubeconfig or os.environ.get("KUBECONFIG") or None
    home = Path("~/.kube/config").expanduser()
    try:
        if path is None and os.environ.get("KUBERNETES_SERVICE_HOST") and context is None:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        elif path is None and not home.exists():
            raise PlanRefused(
                "kubernetes: no configuration: give 'kubeconfig' in the step, set KUBECONFIG, or run in a cluster"
            )
        else:
            source = path or str(home)
            if os.pathsep not in source and not Path(source).exists():
                raise PlanRefused(f"kubernetes: kubeconfig {source} does not exist")
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=source, context=context, client_configuration=cfg, persist_config=False
            )
    except config.ConfigException as exc:
        raise PlanRefused(f"kubernetes: cannot use kubeconfig {path or home}: {exc}") from exc
    check_tls(cfg)
    cfg.retries = _RETRIES
    return cfg


def check_tls(cfg: Configuration) -> None:
    host = str(cfg.host)
    if not cfg.verify_ssl:
        raise PlanRefused(
            f"kubernetes API {host}: the kubeconfig disables TLS verification (insecure-skip-tls-verify); chaosrun "
            "never does that: give the cluster's certificate-authority instead"
        )
    parts = urlsplit(host)
    if parts.scheme != "https" and parts.hostname not in _LOOPBACK:
        raise PlanRefused(
            f"kubernetes API {host}: plain http to a remote API server is refused; use https "
            "(plain http is accepted only on a loopback address, e.g. `kubectl proxy`)"
        )


def api_call(kubeconfig: str | None, context: str | None, what: str, fn: Callable[[ApiClient], T]) -> tuple[str, T]:
    """(API host URL, fn(api)) on this thread; API and transport errors become FaultFailed naming `what`."""
    import urllib3
    from kubernetes.client import ApiClient
    from kubernetes.client.exceptions import ApiException

    cfg = configuration(kubeconfig, context)
    host = str(cfg.host).rstrip("/")
    with ApiClient(cfg) as api_client:
        try:
            return host, fn(api_client)
        except ApiException as exc:
            raise FaultFailed(f"kubernetes API {host}: {what}: {_api_message(exc)}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise FaultFailed(f"kubernetes API {host}: {what}: {_transport_message(exc)}") from exc
        except ValueError as exc:  # the client could not read the answer (not a Kubernetes API?)
            raise FaultFailed(f"kubernetes API {host}: {what}: unexpected answer: {str(exc)[:160]}") from exc


def _api_message(exc: Exception) -> str:
    """`404 Not Found: pods "web-1" not found` from an ApiException's Status body."""
    import json

    status, reason, body = getattr(exc, "status", None), getattr(exc, "reason", None), getattr(exc, "body", None)
    message = ""
    if isinstance(body, str | bytes):
        try:
            decoded = json.loads(body)
        except ValueError:
            decoded = None
        if isinstance(decoded, dict) and isinstance(decoded.get("message"), str):
            message = decoded["message"]
    head = " ".join(str(x) for x in (status, reason) if x)
    return f"{head}: {message}" if message else head or type(exc).__name__


def _transport_message(exc: Exception) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason)
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSLError" in type(reason).__name__:
        return f"TLS verification failed ({text[:160]}); check the kubeconfig's certificate-authority"
    if "Connection refused" in text or "NewConnectionError" in type(reason).__name__:
        return "unreachable (connection refused); is the API server up and the kubeconfig current?"
    if "timed out" in text.lower():
        return "unreachable (timed out)"
    return f"unreachable ({text[:160]})"


def core_v1(api: ApiClient) -> CoreV1Api:
    from kubernetes.client import CoreV1Api

    return CoreV1Api(api)


async def in_daemon_thread(fn: Callable[[], T]) -> T:
    """`fn()` on a daemon thread. Unlike `asyncio.to_thread`, nothing waits for the thread at
    exit: a stop signal while an API server hangs ends chaosrun at once, not after every read
    timeout and retry (measured: 89 s against a server that accepts and never answers). A
    cancelled call's thread finishes (or times out) on its own; its result is dropped."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(set_outcome: Callable[[], None]) -> None:
        if not future.done():
            set_outcome()

    def work() -> None:
        outcome: Callable[[], None]
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task, raised there
            outcome = functools.partial(future.set_exception, exc)
        else:
            outcome = functools.partial(future.set_result, result)
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
            loop.call_soon_threadsafe(deliver, outcome)

    threading.Thread(target=work, name="chaosrun-kube-api", daemon=True).start()
    return await future


async def api_call_in_thread(
    kubeconfig: str | None, context: str | None, what: str, fn: Callable[[ApiClient], T]
) -> tuple[str, T]:
    """`api_call` on a daemon thread (`in_daemon_thread`)."""
    return await in_daemon_thread(lambda: api_call(kubeconfig, context, what, fn))
