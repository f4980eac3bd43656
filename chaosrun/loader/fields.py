"""Small readers of one node, and helpers for a mapping spread over layers (include, then override).

Each reader reports a problem on its node and returns None; `_get` then gives the default.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Sequence
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

import yaml

from ..model import Location
from ..node import Node
from ..units import Bound

_EXPECTED_URL = "an absolute URL such as 'http://127.0.0.1:8080'"
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[^\s:\[\]/]+):(\d{1,5})$")

T = TypeVar("T")
D = TypeVar("D")
Fields = list[dict[str, Node]]  # the layers of one mapping: an included definition, then the override


def _str(node: Node) -> str | None:
    return node.str()


def _text(node: Node) -> str | None:
    return node.str(non_empty=False)


def _duration(node: Node) -> float | None:
    return node.duration()


def _positive(node: Node) -> float | None:
    value = node.duration()
    if value == 0:
        node.error("must be more than 0s")
        return None
    return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|KiB|MB|MiB|GB|GiB)")
_SIZE_UNITS = {"B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20, "GB": 10**9, "GiB": 2**30}


def _size(node: Node) -> int | None:
    """A byte size: a whole number of bytes, or `512KiB`, `1MiB`, `10MB`...; at least 1 byte."""
    value = node.scalar()
    if isinstance(value, int) and not isinstance(value, bool):
        size: int | None = value
    else:
        m = _SIZE.fullmatch(str(value).strip()) if isinstance(value, str) else None
        size = None if m is None else int(float(m.group(1)) * _SIZE_UNITS[m.group(2)])
    if size is None or size < 1:
        node.error(f"expected a size of at least 1 byte such as '1MiB', '512KiB' or 65536, got {value!r}")
        return None
    return size


def _ratio(node: Node) -> Bound | None:
    return node.bound("ratio")


def _latency(node: Node) -> Bound | None:
    return node.bound("s")


def _count(node: Node) -> int | None:
    return node.int(min=1)


def _regex(node: Node) -> str | None:
    text = node.str()
    if text is not None:
        try:
            re.compile(text)
        except re.error as exc:
            node.error(f"not a valid regular expression: {exc}")
            return None
    return text


def _checked(node: Node, ok: Callable[[str], bool], expected: str) -> str | None:
    """A string that passes `ok`; else an error 'expected <expected>, got ...'."""
    text = node.str()
    if text is not None and not ok(text):
        node.error(f"expected {expected}, got {text!r}")
        return None
    return text


def _is_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a bad port or IPv6 literal
        return False


def _is_address(text: str) -> bool:
    m = _ADDRESS.match(text)
    return m is not None and 1 <= int(m.group(1)) <= 65535


def _url(node: Node) -> str | None:
    return _checked(node, _is_url, _EXPECTED_URL)


def _address(node: Node) -> str | None:
    return _checked(node, _is_address, "host:port such as '127.0.0.1:21001'")


def _argv(node: Node) -> tuple[str, ...] | None:
    """A command as a list of arguments; a string is refused (no shell)."""
    if node.is_scalar and not node.is_null:
        node.error("expected a list of arguments such as [curl, -fsS, URL]; a string is not run through a shell")
        return None
    items = node.items()
    if items is None:
        return None
    if not items:
        node.error("expected at least one argument (the program)")
        return None
    args = [items[0].str(), *(i.str(non_empty=False) for i in items[1:])]
    return None if None in args else tuple(a for a in args if a is not None)


def _pairs(node: Node) -> tuple[tuple[str, str], ...] | None:
    """A mapping of names to strings (headers, environment)."""
    entries = node.entries()
    if entries is None:
        return None
    values = [(k, v.str(non_empty=False)) for k, v in entries]
    return tuple((k, v) for k, v in values if v is not None)


def _get(fields: Fields, key: str, read: Callable[[Node], T | None], default: D) -> T | D:
    """The value of `key` in the last layer that sets it, read with `read`; `default` when absent or bad."""
    node = _last(fields, key)
    if node is None:
        return default
    value = read(node)
    return default if value is None else value


def _last(fields: Fields, key: str) -> Node | None:
    return next((layer[key] for layer in reversed(fields) if key in layer), None)


def _chain(fields: Fields, key: str) -> list[Node]:
    """The nodes to merge for a nested mapping: the last value and the mappings right before it."""
    nodes = [layer[key] for layer in fields if key in layer]
    out = nodes[-1:]
    for node in reversed(nodes[:-1]):
        if not (node.is_mapping and out[0].is_mapping):
            break
        out.insert(0, node)
    return out


def _merge(nodes: Sequence[Node], allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Fields | None:
    """The layers of a mapping spread over `nodes` (later ones override keys of earlier ones)."""
    fields = [f for f in (n.mapping(allowed) for n in nodes) if f is not None]
    if len(fields) < len(nodes):
        return None
    for key in required:
        if _last(fields, key) is None:
            nodes[-1].error(f"missing required key '{key}'")
    return fields


def _unknown(node: Node, name: str, known: Collection[str], what: str) -> None:
    hint = difflib.get_close_matches(name, list(known), n=1)
    more = f"; did you mean '{hint[0]}'?" if hint else f"; known: {', '.join(known) or '(none)'}"
    node.error(f"unknown {what} '{name}'{more}")


def _regions(names: Sequence[str]) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"region {quoted}" if len(names) == 1 else f"regions {quoted}"


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def _unique(parsed: list[tuple[Node, N | None]], what: str) -> tuple[N, ...]:
    """The parsed entries, reporting a name used twice at the second one."""
    first: dict[str, Node] = {}
    for item, value in parsed:
        if value is None:
            continue
        if value.name in first:
            line = first[value.name].line
            _value(item, "name").error(f"duplicate {what} name '{value.name}' (first declared at line {line})")
        else:
            first[value.name] = item
    out = [v for item, v in parsed if v is not None and first[v.name] is item]
    return tuple(out)


def _value(node: Node, key: str) -> Node:
    """The value of `key` in a mapping node (the node itself when absent)."""
    raw = next((v for k, v in node.raw.value if isinstance(k, yaml.ScalarNode) and k.value == key), None)
    return node if raw is None else Node(raw, node.doc, node._child_path(key))


def _location(node: Node) -> Location:
    return Location(file=node.doc.file, line=node.line, column=node.column)


def _filtered(node: Node, keys: tuple[str, ...], *, keep: bool) -> Node:
    """The same mapping (location and path) with only `keys` (keep) or without them."""
    pairs = [(k, v) for k, v in node.raw.value if (isinstance(k, yaml.ScalarNode) and k.value in keys) == keep]
    return Node(yaml.MappingNode(node.raw.tag, pairs, node.raw.start_mark, node.raw.end_mark), node.doc, node.path)


def _walk_scalars(root: Node) -> list[Node]:
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.is_mapping:
            pairs = [(k, v) for k, v in node.raw.value if isinstance(k, yaml.ScalarNode)]
            stack += [Node(v, node.doc, node._child_path(str(k.value))) for k, v in pairs]
        elif node.is_sequence:
            stack += [Node(v, node.doc, node._child_path(i)) for i, v in enumerate(node.raw.value)]
        elif not node.is_null:
            out.append(node)
    return out
