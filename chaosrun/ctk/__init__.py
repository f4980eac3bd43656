"""Chaos Toolkit experiments run as they are, with chaosrun's safety and outputs.

`detect.is_ctk_experiment` tells a Chaos Toolkit file (`method` / `steady-state-hypothesis` at the
top) from a chaosrun one; `load.load_ctk_experiment` validates it with located messages;
`run.run_ctk_experiment` runs it with Chaos Toolkit's semantics through chaostoolkit-lib, plus
the deliberate differences of docs/chaostoolkit.md. chaostoolkit-lib is imported by `load` and
`run` only, never by `detect`.
"""

from __future__ import annotations

from .detect import is_ctk_experiment

__all__ = ["is_ctk_experiment"]
