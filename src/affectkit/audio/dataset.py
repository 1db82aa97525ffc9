"""The one in-memory form every speech-emotion corpus loader returns.

The audio analogue of :class:`affectkit.data.faceset.FaceSet`: loaders (EmoDB,
RAVDESS, CREMA-D, IEMOCAP) all return an :class:`AudioSet`, so feature extraction,
models and evaluation never depend on a corpus's file layout. It holds file paths (``names``), not
waveforms: features are computed (and cached) from the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from affectkit.data.labelled import LabelledSet

AUDIO_EMOTIONS: tuple[str, ...] = (
    "anger",
    "boredom",
    "disgust",
    "fear",
    "happiness",
    "sadness",
    "neutral",
    "calm",
    "surprise",
)
"""Canonical names of the speech-emotion classes; each corpus uses a subset, in this order."""


def canonical_classes(names) -> tuple[str, ...]:
    """The given canonical class names in :data:`AUDIO_EMOTIONS` order.

    Raises
    ------
    KeyError
        If a name is not one of :data:`AUDIO_EMOTIONS`.
    """
    names = set(names)
    unknown = names - set(AUDIO_EMOTIONS)
    if unknown:
        raise KeyError(f"unknown emotion names {sorted(unknown)}; expected some of {AUDIO_EMOTIONS}")
    return tuple(c for c in AUDIO_EMOTIONS if c in names)


@dataclass
class AudioSet(LabelledSet):
    """Speech recordings with optional emotion, speaker and gender labels.

    The voice variant of :class:`affectkit.data.labelled.LabelledSet` (same field
    names as faces and sequences: a speaker is the recording's subject).

    Attributes
    ----------
    names : list[str]
        ``N`` sound (or video) files.
    labels : np.ndarray
        ``(N,)`` ``int64`` class ids indexing ``class_names``; ``-1`` where there is no
        label.
    class_names : tuple[str, ...]
        The corpus's classes as canonical names (:data:`AUDIO_EMOTIONS`).
    subjects : list[str]
        ``N`` speaker ids for speaker-independent protocols; ``""`` where unknown.
    genders : list[str]
        ``N`` of ``"m"``, ``"f"`` or ``""`` (unknown); the source task of the transfer
        model (:mod:`affectkit.audio.models`).
    meta : dict
        Free-form provenance (corpus name, root, class convention, licence note).

    Raises
    ------
    ValueError
        If the per-recording fields differ in length or a label is out of range.
    """

    names: list[str]
    labels: np.ndarray
    class_names: tuple[str, ...]
    subjects: list[str]
    genders: list[str]
    meta: dict = field(default_factory=dict)

    PER_ITEM: ClassVar[tuple[str, ...]] = ("names", "labels", "subjects", "genders")

    def __post_init__(self) -> None:
        self.names = [str(p) for p in self.names]
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = tuple(self.class_names)
        self._check_lengths()
        if len(self) and (self.labels.max(initial=-1) >= len(self.class_names) or self.labels.min(initial=0) < -1):
            raise ValueError(f"AudioSet.labels must be in [-1, {len(self.class_names)}), "
                             f"got [{self.labels.min()}, {self.labels.max()}]")
