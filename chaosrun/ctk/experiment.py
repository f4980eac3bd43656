"""A validated Chaos Toolkit experiment, and its summary in chaosrun's experiment model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..model import ChaosToolkitProbe, Experiment, Location, Phases, Probe, Region, Tolerance

__all__ = ["REGION", "CtkActivity", "CtkExperiment"]

REGION = "local"  # chaosrun's report is per region; a Chaos Toolkit experiment has one vantage point


@dataclass(frozen=True, slots=True, kw_only=True)
class CtkActivity:
    """One activity as the run and the report name it (the mapping itself stays in `spec_json`)."""

    name: str
    type: str  # probe | action
    section: str  # hypothesis | method | rollbacks
    provider: str  # python | process | http | ref
    background: bool
    spec_json: str  # the activity as written (refs resolved at run time by chaoslib)


@dataclass(frozen=True, slots=True, kw_only=True)
class CtkExperiment:
    """A Chaos Toolkit experiment that passed validation. `document()` is what chaostoolkit-lib
    runs: a fresh copy of the file's mapping each time (chaoslib mutates what it is given)."""

    source: str
    source_text: str
    title: str
    description: str
    tags: tuple[str, ...]
    document_json: str
    hypothesis: tuple[CtkActivity, ...]
    method: tuple[CtkActivity, ...]
    rollbacks: tuple[CtkActivity, ...]

    def document(self) -> dict[str, Any]:
        value = json.loads(self.document_json)
        assert isinstance(value, dict)
        return value

    def summary_model(self, every_s: float) -> Experiment:
        """chaosrun's model of this experiment, for the journal header and the report: the
        hypothesis probes are its probes (one region, `local`); nothing here is run."""
        probes = tuple(
            Probe(
                name=a.name,
                spec=ChaosToolkitProbe(provider_json=json.dumps(json.loads(a.spec_json).get("provider"))),
                every_s=every_s,
                tolerance=Tolerance(),
                during=None,
                recover_within_s=None,
                regions=(REGION,),
                location=Location(file=self.source, line=0, column=0),
            )
            for a in self.hypothesis
        )
        return Experiment(
            title=self.title,
            description=self.description,
            tags=self.tags,
            regions=(Region(name=REGION),),
            probes=probes,
            phases=Phases(baseline_s=0.0, fault_s=0.0, recovery_s=0.0),
            method=(),
            source=self.source,
            source_text=self.source_text,
        )
