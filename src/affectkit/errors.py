"""Errors that affectkit raises for problems the user can fix.

Every error carries the offending path (when there is one) in its message, so the
command line can print a single clear line instead of a library traceback.
"""

from __future__ import annotations

from pathlib import Path


class AffectkitError(Exception):
    """Base class for errors caused by the user's input or environment."""


class InputError(AffectkitError):
    """A media file or folder cannot be used: missing, unsupported, corrupt or empty.

    Parameters
    ----------
    path : str or Path
        The file the problem is about; it starts the message.
    problem : str
        What is wrong, in a few words.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class WeightsError(AffectkitError):
    """Pretrained weights could be found neither in a local file nor on a hub."""


class DataError(AffectkitError):
    """A dataset file or folder is missing or malformed."""
