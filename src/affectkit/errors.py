"""Errors that affectkit raises for problems the user can fix.

Every error carries the offending path (when there is one) in its message, so the
command line can print a single clear line instead of a library traceback.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path


def printable(text: object) -> str:
    """``text`` made safe to print on one line: control characters and undecodable bytes escaped.

    A file name may hold a newline (which would split an ``error:`` line in two) or
    bytes that are not valid UTF-8 (which Python keeps as lone surrogates, and which a
    UTF-8 terminal cannot encode). Newlines, tabs and other control characters become
    ``\\n``, ``\\t``, ``\\x1b``...; undecodable bytes become ``\\xff``. Other
    text, accented letters included, is unchanged.

    Parameters
    ----------
    text : object
        Converted with ``str`` first (a Path prints its path).

    Returns
    -------
    str
    """
    s = str(text)
    # Lone surrogates are the bytes os.fsdecode could not decode: show them as \xNN.
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    out = []
    for ch in s:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") and ch != " ":
            out.append({"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(ch, ch.encode("unicode_escape").decode("ascii")))
        else:
            out.append(ch)
    return "".join(out)


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
        super().__init__(f"{printable(self.path)}: {problem}")


def one_line(text: object, limit: int = 200) -> str:
    """A library's message, fit to follow ``FILE:`` on one error line.

    Line breaks (and the spaces around them) become a single space; text longer
    than ``limit`` characters is cut and ends with ``...``.

    Parameters
    ----------
    text : object
        Usually an exception; converted with ``str``.
    limit : int
        Most characters kept.

    Returns
    -------
    str
    """
    s = re.sub(r"\s*[\r\n]+\s*", " ", str(text)).strip()
    if not s and isinstance(text, BaseException):
        s = type(text).__name__  # an exception without a message still says what it was
    return s if len(s) <= limit else s[: limit - 3].rstrip() + "..."


class WeightsError(AffectkitError):
    """A model or weights file, or its model card, is missing, unreadable or malformed;
    or no pretrained weights could be found locally or on a hub.

    Messages read ``FILE: problem``. They are kept on one line: a line break inside
    (e.g. from a library message) becomes a space, so the command line prints exactly
    one ``error:`` line.

    Parameters
    ----------
    message : str
    """

    def __init__(self, message: object):
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


class UnknownNameError(AffectkitError, KeyError, ValueError):
    """A name (a backbone, a feature tap...) that is none of the known ones.

    The message lists the known names. It is also a ``KeyError`` and a
    ``ValueError``, so code written against the earlier errors still catches it.
    """

    def __str__(self) -> str:
        # KeyError would print the message in quotes.
        return str(self.args[0]) if self.args else ""


class DataError(AffectkitError):
    """A dataset file or folder is missing or malformed."""


class OptionError(AffectkitError, ValueError):
    """An option (a keyword argument, a command-line option or a configuration key)
    that is unknown, or has a value it cannot take.

    The message is one line and names the option. It is also a ``ValueError``, so code
    written against the earlier errors still catches it.

    Parameters
    ----------
    option : str
        The option's name; kept as :attr:`option`.
    message : str
        The whole message (it names the option). Line breaks become spaces.
    """

    def __init__(self, option: str, message: object):
        self.option = str(option)
        super().__init__(re.sub(r"\s*[\r\n]+\s*", " ", str(message)).strip())


def reject_unknown(keys, known, what: str = "option") -> None:
    """Raise :class:`OptionError` for the first of ``keys`` that is not in ``known``.

    Configuration loaders (``from_dict`` of the config dataclasses, saved models read
    back) call this so that a mistyped key is an error naming it instead of being
    silently ignored.

    Parameters
    ----------
    keys : iterable of str
        The keys given, e.g. a dict read from YAML or JSON.
    known : iterable of str
        The keys that are understood.
    what : str
        What the keys are, for the message (``"temporal option"``, ...).

    Raises
    ------
    OptionError
        ``unknown WHAT 'KEY'; did you mean 'NEAR'?`` (when a known key is close) or
        ``unknown WHAT 'KEY'; known: a, b, c``.
    """
    import difflib

    known = [str(k) for k in known]
    for key in keys:
        if key in known:
            continue
        near = difflib.get_close_matches(str(key), known, n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(known))}"
        raise OptionError(str(key), f"unknown {what} {printable(repr(key))}; {hint}")


class ProtocolError(AffectkitError, ValueError):
    """An evaluation protocol that is malformed, or that the data cannot support.

    Raised for a protocol string that is none of ``split``, ``kfold:K`` (``K >= 2``) or
    ``loso``, and for a protocol missing what it needs (subject ids for ``kfold``/``loso``,
    a test set for ``split``). The message is one line. It is also a ``ValueError``, so
    code written against the earlier errors still catches it.

    Parameters
    ----------
    message : object
        Converted with :func:`one_line`.
    """

    def __init__(self, message: object):
        super().__init__(one_line(message))


class MissingExtraError(AffectkitError, ImportError):
    """A feature needs a package of an optional extra that is not installed.

    The message is one line naming the extra to install, e.g. ``training needs torch,
    which is not installed: pip install 'affectkit[train]'``.

    Parameters
    ----------
    module : str
        The missing module.
    extra : str
        The extra of affectkit that installs it (``train``, ``gui``, ...).
    what : str
        What needed it, in a few words.
    """

    def __init__(self, module: str, extra: str, what: str = ""):
        self.module, self.extra = module, extra
        lead = f"{what} needs {module}" if what else f"{module} is needed"
        super().__init__(f"{lead}, which is not installed: pip install 'affectkit[{extra}]'")


def require(module: str, extra: str, what: str = ""):
    """Import ``module``, or raise one line naming the affectkit extra that installs it.

    Parameters
    ----------
    module : str
        Module name, e.g. ``"torch"``, ``"facenet_pytorch"``.
    extra : str
        The optional extra of affectkit that provides it, e.g. ``"train"``.
    what : str
        What needs it, for the message (e.g. ``"affectkit train"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        (an :class:`AffectkitError` and an ``ImportError``) if it cannot be imported.
    """
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        # only the module itself (or its top package) being absent is "not installed"
        missing = getattr(exc, "name", None)
        if missing is None or module.split(".")[0] != missing.split(".")[0]:
            raise
        raise MissingExtraError(module.split(".")[0], extra, what) from None


def has_module(module: str) -> bool:
    """True if ``module`` can be found (without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


EXTRA_OF_MODULE = {
    "torch": "train", "torchvision": "train", "timm": "train", "lightning": "train", "torchmetrics": "train",
    "facenet_pytorch": "train", "onnx": "train", "sklearn": "train", "silero_vad": "train",
    "fastapi": "web", "uvicorn": "web", "ray": "scale", "opensmile": "opensmile",
}
"""Optional modules -> the affectkit extra that installs them."""


def missing_extra(exc: ImportError, what: str = "") -> MissingExtraError | None:
    """The :class:`MissingExtraError` for an ``ImportError`` of a module of an extra, else None."""
    if isinstance(exc, MissingExtraError):
        return exc
    top = (getattr(exc, "name", None) or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    return MissingExtraError(top, extra, what) if extra else None
