"""What a run did and did not observe, for the report: stretches chaosrun could not sample
(shaded on the charts), faults found no longer in place, and the region-to-region matrix of
in-cluster agents."""

from __future__ import annotations

from . import fmt
from .data import Journal
from .figure import Span
from .markup import e, section, table

__all__ = ["matrix_section", "missing_faults_section", "observed_spans"]


def observed_spans(journal: Journal) -> list[Span]:
    """Every stretch to shade: samples not taken, and faults not in place."""
    return _missing_fault_spans(journal) + _not_taken_spans(journal)


def _missing_fault_spans(journal: Journal) -> list[Span]:
    """Where a fault was found no longer in place: from then to its undo (or the run's end)."""
    return [
        Span(start_s=f.missing_s, end_s=f.removed_s if f.removed_s is not None else journal.end_s,
             label=f"fault not in place: {f.description}", region=f.region)
        for f in journal.faults
        if f.missing_s is not None
    ]  # fmt: skip


def _not_taken_spans(journal: Journal) -> list[Span]:
    """Where chaosrun could not take samples honestly (stalls: every region; runs of one series'
    samples: their region), overlapping stretches merged so a chart shades each once."""
    by_region: dict[str | None, list[tuple[float, float, str]]] = {}
    for n in journal.not_taken:
        # a run of one sample has no length: shade at least a fifth of a second around it
        lo, hi = (n.from_s, n.to_s) if n.to_s - n.from_s >= 0.2 else (n.from_s - 0.1, n.from_s + 0.1)
        by_region.setdefault(n.region, []).append((max(0.0, lo), hi, n.reason))
    spans: list[Span] = []
    for region, items in by_region.items():
        merged: list[tuple[float, float, str]] = []
        for lo, hi, reason in sorted(items):
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi), merged[-1][2])
            else:
                merged.append((lo, hi, reason))
        spans += [Span(start_s=lo, end_s=hi, label=f"not taken: {why}", region=region) for lo, hi, why in merged]
    return spans


def matrix_section(journal: Journal) -> str:
    """The region-to-region matrix: each region's cluster probing every region's endpoint
    (a partition between two regions shows as failures between them only). Not judged."""
    if not journal.matrix:
        return ""
    cells = {(c.source, c.target): c for c in journal.matrix}
    sources = list(dict.fromkeys(c.source for c in journal.matrix))
    targets = list(dict.fromkeys(c.target for c in journal.matrix))

    def cell(source: str, target: str) -> str:
        c = cells.get((source, target))
        if c is None or not c.samples:
            return "–"
        failed = c.samples - c.ok
        mark = "" if not failed else f" ({failed:,} failed)"
        return f"{fmt.ratio(c.ok / c.samples)} of {c.samples:,}{mark}"

    rows = [[e(s)] + [cell(s, t) for t in targets] for s in sources]
    caption = "Share of samples that succeeded, from each region's cluster to each region"
    body = table(caption, ["from \\ to", *targets], rows)
    intro = (
        "Each region's in-cluster agent also probed the other regions' endpoints (matrix: true): the share of "
        "samples that succeeded, over the whole run. Not judged; a partition shows as failures between two "
        "regions only."
    )
    return section("matrix", "Region to region", body, intro)


def missing_faults_section(journal: Journal) -> str:
    gone = [f for f in journal.faults if f.missing_s is not None]
    if not gone:  # the hypothesis was tested under every fault for the whole fault phase
        return ""
    body = (
        "<p><strong>Fault not in place:</strong> "
        + "; ".join(f"{e(f.description)} was gone from {f.missing_s:.2f}s (found by its read-back)" for f in gone)
        + ". The hypothesis was not tested under it from then on (shaded on the charts): the run cannot be held; "
        "it is inconclusive unless it deviated anyway.</p>"
    )
    return section("missing-faults", "Faults not in place", body)
