"""Where affectkit finds the shared development data and its cache."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    """Return the shared data folder.

    It is ``$AFFECTKIT_SHARED`` when set, else ``../shared`` relative to the current
    working directory (the layout of a development checkout). The folder may not exist;
    callers check and raise or skip with a reason.
    """
    env = os.environ.get("AFFECTKIT_SHARED")
    return Path(env) if env else Path.cwd().parent / "shared"


def cache_dir() -> Path:
    """Return affectkit's cache folder (``$AFFECTKIT_CACHE`` or ``~/.cache/affectkit``)."""
    env = os.environ.get("AFFECTKIT_CACHE")
    path = Path(env) if env else Path.home() / ".cache" / "affectkit"
    path.mkdir(parents=True, exist_ok=True)
    return path
