"""The one error hierarchy of chaosrun.

```
ChaosrunError                 base; `exit_code` says how the CLI ends
├── InvalidInput              exit 2: bad experiment, settings or usage; nothing was executed
│   ├── ValidationFailed      one or more located problems (file:line:col, field path, what)
│   └── PlanRefused           the plan breaks a cap, or a target is held by another run/ledger
├── InfrastructureError       exit 4: fault back end or probing infrastructure failed
│   ├── FaultFailed           applying/updating a fault failed (faults are rolled back)
│   └── ToxiproxyError        the Toxiproxy API answered an error or could not be reached
│       ├── ToxiproxyUnreachable
│       ├── ToxiproxyNotFound       404
│       ├── ToxiproxyConflict       409
│       ├── ToxiproxyBadRequest     400
│       └── ToxiproxyServerError    5xx
└── RollbackFailed            exit 5: an undo failed; the message names what may remain
```

A deviated hypothesis is a result recorded in the journal, never an exception.
Messages say what, where and what next; the CLI prints `str(error)` on one line.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ChaosrunError",
    "FaultFailed",
    "InfrastructureError",
    "InvalidInput",
    "Issue",
    "PlanRefused",
    "RollbackFailed",
    "ToxiproxyBadRequest",
    "ToxiproxyConflict",
    "ToxiproxyError",
    "ToxiproxyNotFound",
    "ToxiproxyServerError",
    "ToxiproxyUnreachable",
    "ValidationFailed",
    "os_error_text",
]


class ChaosrunError(Exception):
    """Base class of every error chaosrun raises on purpose."""

    exit_code: int = 4


class InvalidInput(ChaosrunError):
    """Bad input or usage: nothing was executed."""

    exit_code = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Issue:
    """One located problem in an input file."""

    file: str
    line: int  # 1-based; 0 when unknown
    column: int  # 1-based; 0 when unknown
    path: str  # field path such as `steady_state.probes[0].every`; "" for the document
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else self.file
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class ValidationFailed(InvalidInput):
    """One or more located problems; `str()` gives one line per issue."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(i) for i in issues))


class PlanRefused(InvalidInput):
    """The plan is refused before anything runs (cap exceeded, target busy, ledger not recovered)."""


class InfrastructureError(ChaosrunError):
    """A fault back end or the probing infrastructure failed."""

    exit_code = 4


class FaultFailed(InfrastructureError):
    """Applying or updating a fault failed."""


class ToxiproxyError(InfrastructureError):
    """The Toxiproxy API answered an error, or could not be reached."""

    def __init__(self, message: str, *, url: str = "", status: int = 0) -> None:
        self.url = url
        self.status = status
        super().__init__(message)


class ToxiproxyUnreachable(ToxiproxyError):
    """No answer (connection refused, timeout)."""


class ToxiproxyNotFound(ToxiproxyError):
    """404: proxy or toxic not found."""


class ToxiproxyConflict(ToxiproxyError):
    """409: proxy or toxic already exists."""


class ToxiproxyBadRequest(ToxiproxyError):
    """400: the server rejected the request body."""


class ToxiproxyServerError(ToxiproxyError):
    """5xx (for example a listen address already in use)."""


class RollbackFailed(ChaosrunError):
    """An undo failed: something may still be injected. The loudest outcome."""

    exit_code = 5


_OS_HINTS = {
    24: "too many open files: raise the limit (`ulimit -n`) or lower the number of probes or their rate",
    28: "no space left on the device",
    30: "read-only file system",
    13: "permission denied",
}


def os_error_text(exc: OSError) -> str:
    """One located line for an OSError: what failed, where (the path when known), what next."""
    what = _OS_HINTS.get(exc.errno or 0) or (exc.strerror or str(exc) or type(exc).__name__)
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{what}{where}" + (f" [errno {exc.errno}]" if exc.errno else "")
