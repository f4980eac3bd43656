"""chaosrun: chaos-engineering experiments with steady-state hypotheses probed across regions."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
