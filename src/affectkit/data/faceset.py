"""The one in-memory form every face dataset loader returns (no torch: its torch view,
:class:`affectkit.training.face_batches.FaceDataset`, lives with training).

Loaders (FER-2013, AffectNet-style CSV, RAF-DB, CK+, AFEW-VA, generic folders/CSVs)
all return a :class:`FaceSet`, so training, feature extraction and evaluation never
depend on a dataset's file layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from affectkit.data.labelled import LabelledSet
from affectkit.expressions import EXPRESSIONS


@dataclass
class FaceSet(LabelledSet):
    """Face crops with optional expression, valence/arousal and subject labels.

    Attributes
    ----------
    images : np.ndarray
        ``(N, S, S)`` ``uint8`` grey or ``(N, S, S, 3)`` ``uint8`` RGB faces,
        ``S`` pixels a side.
    labels : np.ndarray
        ``(N,)`` ``int64`` canonical class ids (index into
        :data:`affectkit.expressions.EXPRESSIONS`); ``-1`` where there is no label.
    va : np.ndarray
        ``(N, 2)`` ``float32`` valence and arousal in ``[-1, 1]``; ``NaN`` where
        there is no label.
    subjects : list[str]
        ``N`` subject (speaker, actor, clip) ids for subject-independent protocols;
        ``""`` where unknown.
    names : list[str]
        ``N`` identifiers (relative file paths).
    meta : dict
        Free-form provenance (dataset name, root, split, licence note).
    soft : np.ndarray or None
        ``(N, 7)`` ``float32`` expression distributions (e.g. FER+ crowd votes,
        Barsoum et al. 2016), rows summing to 1; ``NaN`` rows where there is none.
        None when the dataset has no distributions at all.
    """

    images: np.ndarray
    labels: np.ndarray
    va: np.ndarray
    subjects: list[str]
    names: list[str]
    meta: dict = field(default_factory=dict)
    soft: np.ndarray | None = None

    PER_ITEM: ClassVar[tuple[str, ...]] = ("images", "labels", "va", "subjects", "names", "soft")

    def __post_init__(self) -> None:
        n = len(self.images)
        for attr in ("labels", "va", "subjects", "names"):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"FaceSet.{attr} has {len(getattr(self, attr))} rows, images has {n}")
        if self.soft is not None and self.soft.shape != (n, 7):
            raise ValueError(f"FaceSet.soft has shape {self.soft.shape}, expected ({n}, 7)")

    @property
    def class_names(self) -> tuple[str, ...]:
        """The seven expressions that ``labels`` index (:data:`affectkit.expressions.EXPRESSIONS`)."""
        return tuple(EXPRESSIONS)

    @property
    def has_va(self) -> bool:
        """True if at least one face has valence/arousal."""
        return bool(np.isfinite(self.va).all(1).any())

    @classmethod
    def empty_labels(cls, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``(labels, va)`` arrays meaning "no label" for ``n`` faces."""
        return np.full(n, -1, dtype=np.int64), np.full((n, 2), np.nan, dtype=np.float32)

    @classmethod
    def concat(cls, parts: list["FaceSet"]) -> "FaceSet":
        """Concatenate face sets of the same image size and channel count.

        ``meta`` holds the parts' ``meta`` under ``"parts"`` and their lengths under
        ``"part_sizes"`` (which a mixed-batch sampler reads).

        Raises
        ------
        ValueError
            If the image shapes differ or ``parts`` is empty.
        """
        if not parts:
            raise ValueError("nothing to concatenate")
        shapes = {p.images.shape[1:] for p in parts}
        if len(shapes) != 1:
            raise ValueError(f"cannot concatenate face sets of image shapes {sorted(shapes)}")
        return cls(
            np.concatenate([p.images for p in parts]),
            np.concatenate([p.labels for p in parts]),
            np.concatenate([p.va for p in parts]),
            [s for p in parts for s in p.subjects],
            [s for p in parts for s in p.names],
            {"parts": [p.meta for p in parts], "part_sizes": [len(p) for p in parts]},
            # Parts without distributions get NaN rows, so any part's distributions survive.
            None if all(p.soft is None for p in parts) else np.concatenate(
                [p.soft if p.soft is not None else np.full((len(p), 7), np.nan, np.float32) for p in parts]),
        )
