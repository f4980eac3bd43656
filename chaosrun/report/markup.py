"""HTML building blocks shared by the report's page (`html`) and its sections (`sections`).

`e` is html.escape. The helpers escape the plain text they are given (a badge's words, a
caption, headers, a title, an empty note) and take cells, bodies and intros as HTML the caller
has escaped already, so every user-provided string is escaped exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

__all__ = ["badge", "e", "empty", "section", "table"]


def e(text: object) -> str:
    return escape(str(text), quote=True)


def badge(kind: str, icon: str, words: str) -> str:
    return f'<span class="badge {kind}"><span aria-hidden="true">{icon}</span> {e(words)}</span>'


def table(caption: str, headers: Sequence[str], rows: Iterable[Sequence[str]], *, cls: str = "") -> str:
    """A table; cells are HTML already escaped; the first cell of each row is its header."""
    head = "".join(f'<th scope="col">{e(h)}</th>' for h in headers)
    body = []
    for row in rows:
        row_cls = ""
        if row and row[0].startswith("<!--row:"):
            marker, first = row[0].split("-->", 1)
            row_cls = f' class="{marker[8:]}"'
            row = [first, *row[1:]]
        cells = f'<th scope="row">{row[0]}</th>' + "".join(f"<td>{c}</td>" for c in row[1:])
        body.append(f"<tr{row_cls}>{cells}</tr>")
    return (
        f'<div class="table-wrap"><table class="{cls}"><caption>{e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def section(sid: str, title: str, body: str, intro: str = "") -> str:
    lead = f'<p class="lead">{intro}</p>' if intro else ""
    return f'<section id="{sid}" aria-labelledby="{sid}-h"><h2 id="{sid}-h">{e(title)}</h2>{lead}{body}</section>'


def empty(text: str) -> str:
    return f'<p class="empty">{e(text)}</p>'
