"""The one labelled-set shape that faces, sequences and voice share.

Every dataset loader returns one of three thin variants of it:

==============================================  ===========================  =====================
variant                                         one item                     its own fields
==============================================  ===========================  =====================
:class:`affectkit.data.faceset.FaceSet`         a face crop                  ``images``, ``va``, ``soft``
:class:`affectkit.temporal.sequences.SequenceSet`  a clip (frames or embeddings)  ``x``, ``times``, ``va``, ``present``, ``landmarks``
:class:`affectkit.audio.dataset.AudioSet`       a recording                  ``genders``
==============================================  ===========================  =====================

What they share, with the same names and meanings:

* ``labels`` -- ``(N,)`` ``int64`` class ids indexing ``class_names``; ``-1`` where
  an item has no label;
* ``class_names`` -- the names of those classes, in id order;
* ``subjects`` -- ``N`` subject ids (person, speaker, actor) for subject-independent
  protocols; ``""`` where unknown;
* ``names`` -- ``N`` identifiers (relative file paths);
* ``meta`` -- free-form provenance (dataset, root, split, licence note);

and the behaviour below (length, ``has_labels``, ``class_counts``, ``subset``), which
the experiment runner (:mod:`affectkit.evaluation.runner`) and the protocols
(:mod:`affectkit.evaluation.protocols`) rely on, whatever the modality.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np


class LabelledSet:
    """Behaviour shared by the labelled-set variants (a mixin, no fields of its own).

    A variant is a dataclass that lists, in :attr:`PER_ITEM`, its fields that hold
    one entry per item (arrays indexed on axis 0, or lists); every other field (the
    class names, ``meta``) is carried over whole by :meth:`subset`.
    """

    PER_ITEM: ClassVar[tuple[str, ...]] = ("labels", "subjects", "names")

    labels: np.ndarray
    subjects: list[str]
    names: list[str]
    meta: dict

    def __len__(self) -> int:
        return len(self.labels)

    def _check_lengths(self) -> None:
        """Raise ``ValueError`` naming the first per-item field whose length is not ``len(labels)``."""
        n = len(self.labels)
        for attr in self.PER_ITEM:
            value = getattr(self, attr)
            if value is not None and len(value) != n:
                raise ValueError(f"{type(self).__name__}.{attr} has {len(value)} entries, labels has {n}")

    @property
    def has_labels(self) -> bool:
        """True if at least one item has a class label."""
        return bool((np.asarray(self.labels) >= 0).any())

    def class_counts(self) -> dict[str, int]:
        """Number of labelled items per class name, in class-id order."""
        labels = np.asarray(self.labels)
        counts = np.bincount(labels[labels >= 0], minlength=len(self.class_names))
        return {str(name): int(c) for name, c in zip(self.class_names, counts)}

    def subset(self, index):
        """The items selected by an integer index array or an ``(N,)`` boolean mask, in that order.

        Returns
        -------
        The same variant, with its per-item fields indexed and ``meta`` copied.
        """
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64).reshape(-1)
        changes = {}
        for attr in self.PER_ITEM:
            value = getattr(self, attr)
            if value is None:
                continue
            changes[attr] = value[index] if isinstance(value, np.ndarray) else [value[i] for i in index]
        changes["meta"] = dict(self.meta)
        return dataclasses.replace(self, **changes)
