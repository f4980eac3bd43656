"""Secrets: resolved late (at run start), from the environment or a file; never written in clear.

`Redactor` masks a value in every encoding it can take on its way to an output; `cut_head` and
`cut_tail` shorten masked text without splitting a mask. Mask first, then cut: a cut secret is
no longer recognisable."""

from __future__ import annotations

import base64
import binascii
import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote, quote_plus

from ..errors import InvalidInput
from ..model import Experiment

__all__ = ["MASK", "Redactor", "cut_head", "cut_tail", "encodings", "resolve_secrets"]


def resolve_secrets(experiment: Experiment, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """name -> value for every declared secret. Raises InvalidInput naming a missing one
    with file:line:col of its declaration."""
    out: dict[str, str] = {}
    for ref in experiment.secrets:
        where = f"{ref.location or experiment.source}: secrets.{ref.name}"
        if ref.env is not None:
            value = environ.get(ref.env)
            if value is None:
                raise InvalidInput(f"{where}: environment variable {ref.env} is not set; export it before the run")
            out[ref.name] = value
        elif ref.file is not None:
            path = Path(ref.file)
            if not path.is_absolute() and experiment.source:
                path = Path(experiment.source).parent / path
            try:
                out[ref.name] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise InvalidInput(f"{where}: cannot read {path}: {exc.strerror}") from exc
    return out


MASK = "***"
_BASIC = re.compile(r"(?i)(basic\s+)([A-Za-z0-9+/=_-]{4,})")


def encodings(value: str) -> set[str]:
    """Every form a secret value takes on its way to an output: raw, JSON escapes (also JSON of
    JSON: doubled backslashes), Python str and bytes reprs (non-ASCII as `\\xc3\\xa4`, backslashes
    doubled), percent-encoding (`quote` and `quote_plus`, UTF-8) and base64 of the value alone."""
    forms = {value}
    for _ in range(2):  # the value, then the value inside an escaped string (doubled escapes)
        for form in list(forms):
            for text in {form, form.replace("\\'", "'"), form.replace('\\"', '"')}:
                forms.add(text)
                forms.add(json.dumps(text)[1:-1])
                forms.add(json.dumps(text, ensure_ascii=False)[1:-1])
                forms.add(repr(text)[1:-1])
                forms.add(repr(text.encode("utf-8", "surrogatepass"))[2:-1])
                forms.add(ascii(text)[1:-1])
    forms.add(quote(value, safe=""))
    forms.add(quote_plus(value, safe=""))
    forms.add(quote(value, safe="/:@"))
    b64 = base64.b64encode(value.encode("utf-8", "surrogatepass")).decode().rstrip("=")
    if len(b64) >= 8:
        forms.add(b64)
    for form in list(forms):  # an escaped quote inside a repr may show either way
        forms.add(form.replace("\\'", "'"))
        forms.add(form.replace('\\"', '"'))
    return {f for f in forms if f}


class Redactor:
    """Masks secret values in text, in every encoding (`encodings`), and basic-auth tokens whose
    decoded `user:password` holds a secret. Values under 3 characters are left alone (masking
    them would shred the output)."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        values = [v for v in secrets if len(v) >= 3]
        forms: set[str] = set()
        for value in values:
            forms |= encodings(value)
        self._values = values
        self._forms = sorted(forms, key=len, reverse=True)
        self.longest = max((len(f) for f in self._forms), default=0)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def __call__(self, text: str) -> str:
        if not self._forms:
            return text
        if "asic" in text or "ASIC" in text:
            text = _BASIC.sub(self._basic, text)
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def _basic(self, m: re.Match[str]) -> str:
        token = m.group(2)
        try:
            decoded = base64.b64decode(token + "=" * (-len(token) % 4), validate=False).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            return m.group(0)
        return m.group(1) + MASK if any(v in decoded for v in self._values) else m.group(0)


def cut_head(text: str, limit: int) -> str:
    """The first `limit` characters, never ending inside a mask (`***`)."""
    if len(text) <= limit:
        return text
    end = limit
    start = text.rfind(MASK, max(0, end - len(MASK) + 1), end + len(MASK) - 1)
    if start != -1 and start < end < start + len(MASK):
        end = start
    return text[:end]


def cut_tail(text: str, limit: int) -> str:
    """The last `limit` characters, never starting inside a mask (`***`)."""
    if len(text) <= limit:
        return text
    begin = len(text) - limit
    start = text.rfind(MASK, max(0, begin - len(MASK) + 1), begin + len(MASK) - 1)
    if start != -1 and start < begin < start + len(MASK):
        begin = start + len(MASK)
    return text[begin:]
