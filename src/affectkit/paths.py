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


def package_data_file(package: str, name: str, *, weights_dir: bool = True) -> Path | None:
    """A data file of an installed package, found without importing the package.

    Third-party weights that a PyPI wheel ships (facenet-pytorch's MTCNN, silero-vad's
    Silero VAD) are read from the wheel, never copied into affectkit. Those packages
    import torch, so they are located with :func:`importlib.util.find_spec`, which does
    not run them.

    Parameters
    ----------
    package : str
        Top-level module name, e.g. ``"facenet_pytorch"``.
    name : str
        File name inside the package's ``data`` folder.
    weights_dir : bool
        Look in ``$AFFECTKIT_WEIGHTS_DIR`` first (machines without a package index).

    Returns
    -------
    Path or None
        An existing file, or None when neither place has it.
    """
    import importlib.util

    folders = [Path(d) for d in [os.environ.get("AFFECTKIT_WEIGHTS_DIR")] if d and weights_dir]
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):  # a broken install, or an import hook that hides it
        spec = None
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(p) / "data" for p in spec.submodule_search_locations]
    return next((f / name for f in folders if (f / name).is_file()), None)
