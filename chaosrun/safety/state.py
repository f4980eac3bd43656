"""Where chaosrun keeps state between runs (run history, fault ledger)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_state_dir"]


def default_state_dir() -> Path:
    """`$CHAOSRUN_STATE_DIR`, else `$XDG_STATE_HOME/chaosrun`, else `~/.local/state/chaosrun`.

    The folder is not created here: writers create it when they first need it.
    """
    explicit = os.environ.get("CHAOSRUN_STATE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_STATE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG spec says to ignore relative paths
        return Path(xdg) / "chaosrun"
    return Path.home() / ".local" / "state" / "chaosrun"
