"""What a run did not observe, in the report: stretches not sampled (shaded, with a tooltip),
faults found no longer in place, and the region-to-region matrix of in-cluster agents."""

from __future__ import annotations

from chaosrun.report import render_html
from chaosrun.report.observed import observed_spans
from chaosrun.report.wire import parse_journal

from .journals import make_journal

SHORT = {"regions": ("us-east", "eu-west"), "phases_s": (10.0, 20.0, 10.0), "rate_hz": 2.0}


def _section(page: str, sid: str) -> str:
    start = page.index(f'<section id="{sid}"')
    return page[start : page.index("</section>", start)]


def test_samples_not_taken_are_merged_per_region_and_shaded_with_their_reason() -> None:
    wire = make_journal("inconclusive", **SHORT)  # type: ignore[arg-type]
    wire["not_taken"] = [
        {"probe": "checkout", "region": "eu-west", "from_s": 12.0, "to_s": 14.0, "samples": 5,
         "reason": "chaosrun fell behind its schedule"},
        {"probe": "catalog", "region": "eu-west", "from_s": 13.5, "to_s": 15.0, "samples": 3,
         "reason": "chaosrun fell behind its schedule"},
        {"probe": None, "region": None, "from_s": 20.0, "to_s": 22.5, "samples": 0,
         "reason": "chaosrun stalled (its event loop did not run)"},
    ]  # fmt: skip
    journal = parse_journal(wire)
    spans = sorted(observed_spans(journal), key=lambda s: s.start_s)
    assert [(s.start_s, s.end_s, s.region) for s in spans] == [(12.0, 15.0, "eu-west"), (20.0, 22.5, None)]
    page = render_html(journal)
    assert "not taken: chaosrun fell behind its schedule" in page
    assert "not taken: chaosrun stalled (its event loop did not run)" in page


def test_a_fault_not_in_place_has_its_own_section_and_is_shaded() -> None:
    wire = make_journal("inconclusive", **SHORT)  # type: ignore[arg-type]
    fault = next(f for f in wire["faults"] if not f["setup"])  # type: ignore[union-attr]
    fault["missing_s"] = 18.0  # type: ignore[index]
    page = render_html(parse_journal(wire))
    section = _section(page, "missing-faults")
    assert "was gone from 18.00s (found by its read-back)" in section and "cannot be held" in section
    assert "fault not in place: " in page


def test_the_region_to_region_matrix_shows_each_path() -> None:
    wire = make_journal("held", **SHORT)  # type: ignore[arg-type]
    cells = [
        {"from": "us-east", "to": "us-east", "samples": 70, "ok": 70},
        {"from": "us-east", "to": "eu-west", "samples": 70, "ok": 40},
        {"from": "eu-west", "to": "us-east", "samples": 70, "ok": 41},
        {"from": "eu-west", "to": "eu-west", "samples": 70, "ok": 70},
    ]
    wire["events"] = [{"type": "agent_matrix", "t": 1.0, "cells": cells[:1]}, {"type": "agent_matrix", "cells": cells}]
    section = _section(render_html(parse_journal(wire)), "matrix")
    rows = section.split("<tr>")[2:]  # the header row, then one per source region
    assert "us-east</th><td>100% of 70</td><td>57.14% of 70 (30 failed)</td>" in rows[0], rows[0]
    assert "eu-west</th><td>58.57% of 70 (29 failed)</td><td>100% of 70</td>" in rows[1], rows[1]
    assert "Region to region" in section


def test_no_matrix_section_without_agents() -> None:
    page = render_html(parse_journal(make_journal("held", **SHORT)))  # type: ignore[arg-type]
    assert 'id="matrix"' not in page and 'id="missing-faults"' not in page
