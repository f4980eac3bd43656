"""TLS for the HTTP-speaking probes: SSL contexts, per-region routing, and the cause of a TLS failure.

Imported only by probe kinds that need it (ssl costs startup time `validate` does not pay).

- `ssl_context(opts, secrets)` builds one verifying context per distinct set of options (cached
  for the run), loading a client key held by a secret through a private file removed at once.
- `route(url, region, opts)` sends a request for `https://name/...` to the region's `connect_to`
  address while the Host header, SNI and certificate check keep using the URL's name (in the
  spirit of curl's `--connect-to`).
- `describe_tls_error(exc)` names the cause of a failed handshake: unknown CA, hostname mismatch,
  expired, client certificate refused; `describe_refusal` recognises a server that completed the
  handshake and then refused the client certificate with a 400 page (nginx does this).
"""

from __future__ import annotations

import contextlib
import os
import ssl
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from ..errors import InvalidInput
from ..model import Region, TlsOptions

__all__ = ["Route", "describe_refusal", "describe_tls_error", "route", "ssl_context", "tls_warnings"]

_CONTEXTS: dict[tuple[TlsOptions, str, str | None], ssl.SSLContext] = {}

# OpenSSL X509_V_ERR_* codes (x509_vfy.h) -> the cause a person acts on
_VERIFY_CAUSES = {
    2: "unknown CA",  # unable to get issuer certificate
    18: "unknown CA (self-signed certificate)",
    19: "unknown CA (self-signed certificate in chain)",
    20: "unknown CA",  # unable to get local issuer certificate
    21: "unknown CA",  # unable to verify the first certificate
    9: "certificate not yet valid",
    10: "certificate expired",
    62: "hostname mismatch",
    64: "IP address mismatch",
    23: "certificate revoked",
    26: "certificate not meant for a server",
}
# alerts a server sends when it refuses the client's certificate (or its absence)
_CLIENT_CERT_ALERTS = (
    "CERTIFICATE_REQUIRED",
    "BAD_CERTIFICATE",
    "UNKNOWN_CA",
    "CERTIFICATE_UNKNOWN",
    "HANDSHAKE_FAILURE",
    "ACCESS_DENIED",
    "CERTIFICATE_EXPIRED",
    "UNSUPPORTED_CERTIFICATE",
    "DECRYPT_ERROR",
)
# nginx completes the handshake, then answers 400 with one of these pages
_NGINX_REFUSALS = {
    b"No required SSL certificate was sent": "no client certificate sent",
    b"The SSL certificate error": "client certificate not accepted",
}


@dataclass(frozen=True, slots=True)
class Route:
    """Where one probe's request goes: the URL to connect to, extra headers, the name to verify."""

    url: str
    host_header: str | None  # the original name, when the connection goes elsewhere
    server_hostname: str | None  # SNI and certificate name; None: the URL's host


def route(url: str, region: Region, opts: TlsOptions | None) -> Route:
    """The request for `url` in `region`: to the region's `connect_to` address when it has one."""
    parts = urlsplit(url)
    server_name = opts.server_name if opts is not None else None
    if region.connect_to is None:
        return Route(url, None, server_name if parts.scheme == "https" else None)
    address = region.connect_to
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit() or address.endswith("]"):
        host, port = address, ""  # no port: keep the URL's
    netloc = f"{host}:{port or parts.port}" if port or parts.port else host
    target = urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    sni = (server_name or parts.hostname) if parts.scheme == "https" else None
    return Route(target, parts.netloc, sni)


def ssl_context(
    opts: TlsOptions | None, secrets: Mapping[str, str], *, where: str, server_hostname: str | None = None
) -> ssl.SSLContext | bool:
    """The SSL context for `opts` (True: aiohttp's default verifying context; False: no verification).

    A context per `server_hostname` too: pooled connections are keyed by their context, so a
    connection verified for one name is never reused for another name on the same address
    (whatever the aiohttp version's pool key holds).
    Raises InvalidInput naming `where` when a file cannot be read or a key does not match."""
    if opts is None and server_hostname is None:
        return True
    opts = opts or TlsOptions()
    if opts.insecure_skip_verify and opts.cert_file is None:
        return False
    key_text = secrets.get(opts.key_secret, "") if opts.key_secret else ""
    cache_key = (opts, key_text, server_hostname)
    if cache_key in _CONTEXTS:
        return _CONTEXTS[cache_key]
    try:
        ctx = ssl.create_default_context(cafile=opts.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise InvalidInput(f"{where}: cannot use ca_file {opts.ca_file}: {_short(exc)}") from None
    if opts.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        if opts.cert_file is not None:
            if opts.key_secret is not None:
                _load_key_from_secret(ctx, opts.cert_file, key_text)
            else:
                ctx.load_cert_chain(opts.cert_file, opts.key_file)
    except (OSError, ssl.SSLError) as exc:
        # the message names files, never key material (ssl errors do not echo PEM text)
        raise InvalidInput(f"{where}: cannot load the client certificate {opts.cert_file}: {_short(exc)}") from None
    _CONTEXTS[cache_key] = ctx
    return ctx


def _load_key_from_secret(ctx: ssl.SSLContext, cert_file: str, pem: str) -> None:
    """load_cert_chain wants a path: the key lives in a 0600 file in a 0700 directory, removed at once."""
    folder = tempfile.mkdtemp(prefix="chaosrun-key-")
    path = os.path.join(folder, "key.pem")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(pem if pem.endswith("\n") else pem + "\n")
        ctx.load_cert_chain(cert_file, path)
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _short(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason).lower().replace("_", " ")
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def describe_tls_error(exc: BaseException) -> str | None:
    """`TLS: <cause>` for an exception raised by a TLS handshake or read, else None."""
    seen: set[int] = set()
    node: BaseException | None = exc
    for _ in range(6):  # walk aiohttp wrappers down to the ssl error, bounded
        if node is None or id(node) in seen:
            break
        seen.add(id(node))
        inner = getattr(node, "certificate_error", None) or getattr(node, "os_error", None)
        if isinstance(inner, BaseException):  # aiohttp's wrapper (itself an ssl error subclass)
            node = inner
            continue
        if isinstance(node, ssl.SSLCertVerificationError):
            cause = _VERIFY_CAUSES.get(node.verify_code)
            return f"TLS: {cause}" if cause else f"TLS: certificate not trusted ({node.verify_message})"
        if isinstance(node, ssl.SSLError):
            reason = str(node.reason or "").upper()
            if any(alert in reason for alert in _CLIENT_CERT_ALERTS) and "ALERT" in reason:
                return f"TLS: client certificate refused ({reason.lower().replace('_', ' ')})"
            if reason == "WRONG_VERSION_NUMBER":
                return "TLS: the server does not speak TLS here"
            return f"TLS: handshake failed ({reason.lower().replace('_', ' ') or type(node).__name__})"
        node = node.__cause__ or node.__context__
    return None


def describe_refusal(status: int, payload: bytes) -> str | None:
    """The client-certificate refusal a server reported as an HTTP 400 page after the handshake."""
    if status != 400:
        return None
    for marker, cause in _NGINX_REFUSALS.items():
        if marker in payload[:4096]:
            return f"TLS: client certificate refused ({cause})"
    return None


def tls_warnings(where: str, opts: TlsOptions | None) -> list[str]:
    """Lines to show loudly before a run: verification switched off."""
    if opts is not None and opts.insecure_skip_verify:
        return [f"WARNING: {where}: insecure_skip_verify is set: the server's certificate is NOT checked"]
    return []


def scheme_of(url: str) -> str:
    """`https` or `http` (for deciding whether TLS options apply)."""
    return urlsplit(url).scheme
