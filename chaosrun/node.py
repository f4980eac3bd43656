"""Located YAML: read a document into typed values while collecting `file:line:col` errors.

The loader and every fault/probe kind parse their part of an experiment through `Node`,
so each error names the file, line, column and field path, and many errors are reported
at once. Nothing past the loader sees a `Node` or raw YAML.
"""

from __future__ import annotations

import builtins
import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import yaml

from .errors import Issue, ValidationFailed
from .units import Bound, parse_bound, parse_duration

__all__ = ["MAX_BYTES", "MAX_NODES", "Document", "Node", "compose", "compose_file", "read_text"]

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
_LINE_BREAK = re.compile("[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")  # what str.splitlines splits on
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.-]*)\}")
# Placeholders resolved late (per region, or secrets) are left in place by the loader.
_LATE_PREFIXES = ("secret.", "region.", "run.")
T = TypeVar("T")


class _SafeComposer(yaml.SafeLoader):
    """SafeLoader that refuses aliases (no alias bombs) and counts nodes."""

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.MarkedYAMLError(
                None, None, "anchors and aliases (*name) are not supported in experiments", event.start_mark
            )
        self._count = getattr(self, "_count", 0) + 1
        if self._count > MAX_NODES:
            raise yaml.MarkedYAMLError(
                None,
                None,
                f"document too large (more than {MAX_NODES} nodes)",
                self.peek_event().start_mark,  # type: ignore[no-untyped-call]
            )
        return super().compose_node(parent, index)


@dataclass(slots=True)
class Document:
    """Where a document came from, its variables, and the problems found so far."""

    file: str
    variables: Mapping[str, str] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)

    def add(self, line: int, column: int, path: str, message: str) -> None:
        # one line per issue, whatever a key or value holds
        path, message = (_LINE_BREAK.sub(lambda m: repr(m.group())[1:-1], t) for t in (path, message))
        self.issues.append(Issue(file=self.file, line=line, column=column, path=path, message=message))

    def raise_if_any(self) -> None:
        if self.issues:
            raise ValidationFailed(sorted(self.issues, key=lambda i: (i.line, i.column)))


def compose(text: str, doc: Document) -> Node | None:
    """Parse YAML (or JSON) text into a root Node; problems go to `doc.issues`."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        doc.add(0, 0, "", f"file too large (over {MAX_BYTES} bytes); experiments are small documents")
        return None
    try:
        loader = _SafeComposer(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except RecursionError:
        doc.add(1, 1, "", "malformed YAML: nested too deeply")
        return None
    except yaml.reader.ReaderError as exc:
        # a control character (NUL, ...): report where it is, on one line
        before = text[: exc.position]
        line, column = before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1
        doc.add(line, column, "", f"malformed YAML: {exc.reason} (#x{exc.character:04x})")
        return None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed YAML"
        if "chomping or indentation indicators" in what:  # `success_ratio: >= 0.99`: `>` starts a folded block
            what += "; a value starting with '>' or '|' is read as a block of text: quote it, e.g. '\">= 0.99\"'"
        elif "character '>' that cannot start any token" in what:  # the same inside `{...}`
            what += "; a bound such as >= 0.99 must be quoted: '\">= 0.99\"'"
        if mark is not None:
            doc.add(mark.line + 1, mark.column + 1, "", f"malformed YAML: {what}")
        else:
            doc.add(0, 0, "", f"malformed YAML: {what}")
        return None
    except yaml.YAMLError as exc:
        doc.add(0, 0, "", f"malformed YAML: {exc}")
        return None
    if root is None:
        doc.add(1, 1, "", "the file is empty; expected a mapping with at least 'title' and 'steady_state'")
        return None
    return Node(root, doc, "")


@dataclass(slots=True)
class Node:
    """One YAML node with its location and field path."""

    raw: yaml.Node
    doc: Document
    path: str

    # -- location and errors -------------------------------------------------
    @property
    def line(self) -> builtins.int:
        return int(self.raw.start_mark.line) + 1

    @property
    def column(self) -> builtins.int:
        return int(self.raw.start_mark.column) + 1

    @property
    def where(self) -> builtins.str:
        return f"{self.doc.file}:{self.line}:{self.column}"

    def error(self, message: builtins.str) -> None:
        """Record a problem at this node."""
        self.doc.add(self.line, self.column, self.path, message)

    def _child_path(self, key: builtins.str | builtins.int) -> builtins.str:
        if isinstance(key, int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    # -- shapes -----------------------------------------------------------------
    @property
    def is_mapping(self) -> builtins.bool:
        return isinstance(self.raw, yaml.MappingNode)

    @property
    def is_sequence(self) -> builtins.bool:
        return isinstance(self.raw, yaml.SequenceNode)

    @property
    def is_scalar(self) -> builtins.bool:
        return isinstance(self.raw, yaml.ScalarNode)

    @property
    def is_null(self) -> builtins.bool:
        return self.is_scalar and self.raw.tag == "tag:yaml.org,2002:null"

    def mapping(
        self,
        allowed: tuple[builtins.str, ...] | frozenset[builtins.str] | set[builtins.str],
        required: tuple[builtins.str, ...] = (),
    ) -> dict[builtins.str, Node] | None:
        """The children of a mapping with only `allowed` keys; unknown keys get a 'did you mean'."""
        if not self.is_mapping:
            self.error(f"expected a mapping with keys {', '.join(sorted(allowed)) or '(none)'}, got {self.kind}")
            return None
        out: dict[str, Node] = {}
        for key_raw, value_raw in self.raw.value:
            key_node = Node(key_raw, self.doc, self.path)
            if not isinstance(key_raw, yaml.ScalarNode):
                key_node.error("mapping keys must be plain strings")
                continue
            key = str(key_raw.value)
            child = Node(value_raw, self.doc, self._child_path(key))
            if key in out:
                Node(key_raw, self.doc, self._child_path(key)).error("duplicate key")
                continue
            if key not in allowed:
                hint = difflib.get_close_matches(key, list(allowed), n=1, cutoff=0.75)  # `redis` is not `regions`
                more = f"; did you mean '{hint[0]}'?" if hint else f"; allowed: {', '.join(sorted(allowed))}"
                Node(key_raw, self.doc, self._child_path(key)).error(f"unknown key '{key}'{more}")
                continue
            out[key] = child
        for key in required:
            if key not in out:
                self.error(f"missing required key '{key}'")
        return out

    def entries(self) -> list[tuple[builtins.str, Node]] | None:
        """A mapping with free-form keys (names), in document order."""
        if not self.is_mapping:
            self.error(f"expected a mapping of names, got {self.kind}")
            return None
        out: list[tuple[str, Node]] = []
        seen: set[str] = set()
        for key_raw, value_raw in self.raw.value:
            if not isinstance(key_raw, yaml.ScalarNode) or not str(key_raw.value):
                Node(key_raw, self.doc, self.path).error("names must be non-empty strings")
                continue
            key = str(key_raw.value)
            if key in seen:
                Node(key_raw, self.doc, self._child_path(key)).error(f"duplicate name '{key}'")
                continue
            seen.add(key)
            out.append((key, Node(value_raw, self.doc, self._child_path(key))))
        return out

    def items(self) -> list[Node] | None:
        """The children of a sequence."""
        if not self.is_sequence:
            self.error(f"expected a list, got {self.kind}")
            return None
        return [Node(v, self.doc, self._child_path(i)) for i, v in enumerate(self.raw.value)]

    def __iter__(self) -> Iterator[Node]:
        return iter(self.items() or [])

    @property
    def kind(self) -> builtins.str:
        if self.is_mapping:
            return "a mapping"
        if self.is_sequence:
            return "a list"
        if self.is_null:
            return "nothing (null)"
        return f"{self.raw.value!r}"

    # -- scalars ----------------------------------------------------------------
    def _text(self, what: builtins.str) -> builtins.str | None:
        if not self.is_scalar or self.is_null:
            self.error(f"expected {what}, got {self.kind}")
            return None
        return self.substitute(str(self.raw.value))

    def substitute(self, text: builtins.str) -> builtins.str:
        """Replace `${name}` with variables; late placeholders (secret., region., run.) stay."""

        def repl(m: re.Match[builtins.str]) -> builtins.str:
            name = m.group(1)
            if name.startswith(_LATE_PREFIXES):
                return m.group(0)
            if name in self.doc.variables:
                return self.doc.variables[name]
            self.error(f"unknown variable '${{{name}}}'; declare it under 'variables' or pass --var {name}=...")
            return m.group(0)

        return _VAR.sub(repl, text)

    def str(self, *, non_empty: builtins.bool = True) -> builtins.str | None:
        text = self._text("a string")
        if text is not None and non_empty and not text.strip():
            self.error("expected a non-empty string")
            return None
        return text

    def choice(self, options: tuple[builtins.str, ...]) -> builtins.str | None:
        text = self._text(f"one of {', '.join(options)}")
        if text is None:
            return None
        if text not in options:
            hint = difflib.get_close_matches(text, list(options), n=1)
            more = f"; did you mean '{hint[0]}'?" if hint else ""
            self.error(f"expected one of {', '.join(options)}, got {text!r}{more}")
            return None
        return text

    def _number(self, conv: Callable[[builtins.str], T], what: builtins.str) -> T | None:
        text = self._text(what)
        if text is None:
            return None
        try:
            return conv(text)
        except ValueError:
            self.error(f"expected {what}, got {text!r}")
            return None

    def int(self, *, min: builtins.int | None = None, max: builtins.int | None = None) -> builtins.int | None:
        value = self._number(int, "a whole number")
        if value is None:
            return None
        return self._range(value, min, max)

    def float(self, *, min: builtins.float | None = None, max: builtins.float | None = None) -> builtins.float | None:
        value = self._number(float, "a number")
        if value is None:
            return None
        return self._range(value, min, max)

    def _range(self, value: T, lo: object, hi: object) -> T | None:
        if lo is not None and value < lo:  # type: ignore[operator]
            self.error(f"must be at least {lo}, got {value}")
            return None
        if hi is not None and value > hi:  # type: ignore[operator]
            self.error(f"must be at most {hi}, got {value}")
            return None
        return value

    def bool(self) -> builtins.bool | None:
        if self.is_scalar and self.raw.tag == "tag:yaml.org,2002:bool":
            return str(self.raw.value).lower() in ("true", "yes", "on")
        text = self._text("true or false")
        if text is None:
            return None
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        self.error(f"expected true or false, got {text!r}")
        return None

    def duration(self, *, min_s: builtins.float = 0.0, max_s: builtins.float | None = None) -> builtins.float | None:
        """`'250ms'`, `'2s'`, `'1m'` -> seconds. A bare number is refused: units are explicit."""
        text = self._text("a duration like '300ms', '2s' or '1m'")
        if text is None:
            return None
        try:
            value = parse_duration(text)
        except ValueError as exc:
            self.error(str(exc))
            return None
        if value < min_s:
            self.error(f"must be at least {min_s:g}s, got {text!r}")
            return None
        if max_s is not None and value > max_s:
            self.error(f"must be at most {max_s:g}s, got {text!r}")
            return None
        return value

    def bound(self, unit: builtins.str) -> Bound | None:
        """`'< 300ms'` (unit 's') or `'>= 0.99'` (unit 'ratio')."""
        text = self._text("a comparison like '< 300ms'")
        if text is None:
            return None
        try:
            return parse_bound(text, "s" if unit == "s" else "ratio")
        except ValueError as exc:
            self.error(str(exc))
            return None

    def str_list(self) -> tuple[builtins.str, ...] | None:
        """A list of strings; a single string is accepted as a one-item list."""
        if self.is_scalar and not self.is_null:
            one = self.str()
            return None if one is None else (one,)
        items = self.items()
        if items is None:
            return None
        out = [i.str() for i in items]
        return None if any(v is None for v in out) else tuple(v for v in out if v is not None)

    def int_list(
        self, *, min: builtins.int | None = None, max: builtins.int | None = None
    ) -> tuple[builtins.int, ...] | None:
        if self.is_scalar and not self.is_null:
            one = self.int(min=min, max=max)
            return None if one is None else (one,)
        items = self.items()
        if items is None:
            return None
        out = [i.int(min=min, max=max) for i in items]
        return None if any(v is None for v in out) else tuple(v for v in out if v is not None)

    def scalar(self) -> builtins.str | builtins.int | builtins.float | builtins.bool | None:
        """A JSON scalar as YAML typed it (for expectations such as json_expect)."""
        if not self.is_scalar:
            self.error(f"expected a single value, got {self.kind}")
            return None
        if self.is_null:
            return None
        tag = self.raw.tag
        text = str(self.raw.value)
        if tag == "tag:yaml.org,2002:bool":
            return text.lower() in ("true", "yes", "on")
        if tag == "tag:yaml.org,2002:int":
            try:
                return int(text, 0)
            except ValueError:
                return text
        if tag == "tag:yaml.org,2002:float":
            try:
                return float(text)
            except ValueError:
                return text
        return self.substitute(text)


def read_text(file: str, *, what: str = "experiment") -> str | Issue:
    """The text of an input file, or the reason it cannot be read (an Issue naming the file)."""

    def issue(message: str, line: int = 0, column: int = 0) -> Issue:
        return Issue(file=file, line=line, column=column, path="", message=message)

    try:
        if os.path.isdir(file):
            return issue(
                f"is a directory, not an {what} file" if what[0] in "aeiou" else f"is a directory, not a {what} file"
            )
        with open(file, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        return issue("no such file")
    except OSError as exc:
        return issue(f"cannot read: {exc.strerror or exc}")
    except ValueError:  # a path with a NUL byte (found by tests/test_loader_fuzz.py)
        return issue("is not a valid path (it contains a NUL character)")
    if len(data) > MAX_BYTES:
        plural = f"{what} files" if what.endswith("s") else f"{what}s"
        return issue(f"file too large (over {MAX_BYTES} bytes); {plural} are small documents")
    if b"\0" in data:
        return issue("not a text file (it contains NUL bytes); expected YAML or JSON")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line, column = before.count(b"\n") + 1, exc.start - (before.rfind(b"\n") + 1) + 1
        return issue(f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save the file as UTF-8", line, column)


def compose_file(file: str, *, what: str, variables: Mapping[str, str] | None = None) -> Node:
    """Read and compose a whole input file (settings, game-day plans); raises ValidationFailed
    with located problems. Experiments go through `chaosrun.loader`, which checks more."""
    text = read_text(file, what=what)
    if isinstance(text, Issue):
        raise ValidationFailed([text])
    doc = Document(file=file, variables=dict(variables or {}))
    root = compose(text, doc)
    doc.raise_if_any()
    assert root is not None  # compose reports every reason it returns None
    return root
