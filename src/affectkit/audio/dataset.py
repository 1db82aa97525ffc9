"""The one in-memory form every speech-emotion corpus loader returns.

The audio analogue of :class:`affectkit.data.faceset.FaceSet`: loaders (EmoDB,
RAVDESS, CREMA-D, IEMOCAP) all return an :class:`AudioSet`, so feature extraction,
models and evaluation never depend on a corpus's file layout. It holds file paths, not
waveforms: features are computed (and cached) from the files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
class AudioSet:
    """Speech recordings with optional emotion, speaker and gender labels.

    Attributes
    ----------
    paths : list[str]
        ``N`` sound (or video) files.
    labels : np.ndarray
        ``(N,)`` ``int64`` class ids indexing ``class_names``; ``-1`` where there is no
        label.
    class_names : tuple[str, ...]
        The corpus's classes as canonical names (:data:`AUDIO_EMOTIONS`).
    speakers : list[str]
        ``N`` speaker ids for speaker-independent protocols; ``""`` where unknown.
    genders : list[str]
        ``N`` of ``"m"``, ``"f"`` or ``""`` (unknown); the source task of the transfer
        model (:mod:`affectkit.audio.models`).
    meta : dict
        Free-form provenance (corpus name, root, class convention, licence note).
    """

    paths: list[str]
    labels: np.ndarray
    class_names: tuple[str, ...]
    speakers: list[str]
    genders: list[str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.paths = [str(p) for p in self.paths]
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.class_names = tuple(self.class_names)
        n = len(self.paths)
        for attr in ("labels", "speakers", "genders"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"AudioSet.{attr} has {len(getattr(self, attr))} rows, paths has {n}")
        if n and (self.labels.max(initial=-1) >= len(self.class_names) or self.labels.min(initial=0) < -1):
            raise ValueError(f"AudioSet.labels must be in [-1, {len(self.class_names)}), "
                             f"got [{self.labels.min()}, {self.labels.max()}]")

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def has_labels(self) -> bool:
        """True if at least one recording has an emotion label."""
        return bool((self.labels >= 0).any())

    def subset(self, index: np.ndarray) -> "AudioSet":
        """Rows selected by an integer index array or an ``(N,)`` boolean mask."""
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return AudioSet(
            [self.paths[i] for i in index], self.labels[index], self.class_names,
            [self.speakers[i] for i in index], [self.genders[i] for i in index], dict(self.meta),
        )

    def class_counts(self) -> dict[str, int]:
        """Number of recordings per class name (unlabelled ones left out)."""
        counts = np.bincount(self.labels[self.labels >= 0], minlength=len(self.class_names))
        return {name: int(c) for name, c in zip(self.class_names, counts)}
