"""What the probe kinds share: `${...}` substitution at build time and stable error texts.

Error texts end up grouped by their exact wording in the report, so they never contain
values that change from one sample to the next (latencies, ports, object ids) and never
contain secret values.
"""

from __future__ import annotations

import errno
import re
import socket
from collections.abc import Mapping

from ..errors import InvalidInput
from ..model import Region
from ..units import format_duration

__all__ = ["describe_exception", "describe_os_error", "mask", "substitute", "timeout_text"]

_PLACEHOLDER = re.compile(r"\$\{(region|secret)\.([A-Za-z0-9_.-]+)\}")
_MAX_ERROR_CHARS = 200


def substitute(text: str, region: Region, secrets: Mapping[str, str], *, where: str, allow_secrets: bool = True) -> str:
    """Replace `${region.name}`, `${region.base_url}` and `${secret.NAME}` in `text`.

    Other `${...}` forms are left alone (they belong to the loader's variables). Raises
    InvalidInput naming `where` for an unknown region attribute or secret.
    """

    def replace(m: re.Match[str]) -> str:
        scope, name = m.group(1), m.group(2)
        if scope == "secret":
            if not allow_secrets:
                raise InvalidInput(f"{where}: ${{secret.{name}}} is not allowed here (pass secrets via env)")
            if name not in secrets:
                raise InvalidInput(f"{where}: unknown secret {name!r}")
            return secrets[name]
        if name == "name":
            return region.name
        if name == "base_url":
            if region.base_url is None:
                raise InvalidInput(f"{where}: region {region.name!r} has no base_url")
            return region.base_url
        raise InvalidInput(f"{where}: unknown placeholder ${{region.{name}}}; use region.name or region.base_url")

    return _PLACEHOLDER.sub(replace, text)


def mask(text: str, secrets: Mapping[str, str]) -> str:
    """`text` with every secret value replaced by `***` (longest first), cut to a short line."""
    for value in sorted(secrets.values(), key=len, reverse=True):
        if value:
            text = text.replace(value, "***")
    text = " ".join(text.split())
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def timeout_text(timeout_s: float) -> str:
    """`timeout after 2s`, `timeout after 250ms`."""
    return f"timeout after {format_duration(timeout_s)}"


_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
    errno.ETIMEDOUT: "connect timed out",
    errno.EPIPE: "connection closed",
    errno.EADDRNOTAVAIL: "address not available",
}


def describe_os_error(exc: OSError) -> str:
    """A short, stable description of a socket-level error."""
    if isinstance(exc, socket.gaierror):
        return "name resolution failed"
    if isinstance(exc, ConnectionRefusedError) or exc.errno == errno.ECONNREFUSED:
        return "connection refused"
    if exc.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[exc.errno]
    # "Multiple exceptions: [Errno 111] ..." from happy-eyeballs connects carry no errno.
    if "Connect call failed" in str(exc) or "[Errno 111]" in str(exc):
        return "connection refused"
    return f"connect failed: {exc.strerror or type(exc).__name__}"


def describe_exception(exc: BaseException, secrets: Mapping[str, str]) -> str:
    """`TypeName: message`, secret-masked and cut short: for errors we have no stable text for."""
    text = str(exc)
    return mask(f"{type(exc).__name__}: {text}" if text else type(exc).__name__, secrets)
