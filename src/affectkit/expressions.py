"""The seven basic expressions and the label codes that datasets use for them.

affectkit's class order is the order of FER-2013's integer codes (Goodfellow et al.
2013), which is also the order of the probability columns in the ``analyze`` table.
"""

from __future__ import annotations

EXPRESSIONS: tuple[str, ...] = (
    "anger",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "surprise",
    "neutral",
)
"""Canonical class names, index = class id."""

# FER-2013 image-folder names (Kaggle release) -> canonical name.
FER2013_FOLDERS: dict[str, str] = {
    "angry": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happiness",
    "sad": "sadness",
    "surprise": "surprise",
    "neutral": "neutral",
}

# AffectNet expression codes (used by DiffusionFER's dataset_sheet.csv) -> canonical name.
# Codes 7 (contempt) and above (none, uncertain, no face) have no basic-expression class.
AFFECTNET_CODES: dict[int, str] = {
    0: "neutral",
    1: "happiness",
    2: "sadness",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "anger",
}


def class_index(name: str) -> int:
    """Return the class id of a canonical expression name.

    Raises
    ------
    KeyError
        If ``name`` is not one of :data:`EXPRESSIONS`.
    """
    try:
        return EXPRESSIONS.index(name)
    except ValueError:
        raise KeyError(f"unknown expression {name!r}; expected one of {EXPRESSIONS}") from None
