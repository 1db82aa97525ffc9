"""The in-memory form of sequence (video) datasets, frame sampling, and batching.

Every sequence loader (AFEW-style clips, AFEW-VA, SEND-style ratings, a generic CSV)
returns a :class:`SequenceSet`: per sequence, either face crops or per-frame
embeddings, the times of the sampled frames, a clip-level expression label and
per-step valence/arousal. Temporal models train on padded batches of it
(:func:`pad_batch`), so they never see a dataset's file layout. It is the
sequence analogue of :class:`affectkit.data.faceset.FaceSet`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from affectkit.data.labelled import LabelledSet


@dataclass
class SequenceSet(LabelledSet):
    """Sequences of faces or frame embeddings with clip and per-step labels.

    Attributes
    ----------
    x : list[np.ndarray]
        ``N`` sequences. Either face crops, each ``(T_i, S, S)`` ``uint8`` grey
        (``meta["content"] == "crops"``), or per-frame embeddings, each ``(T_i, D)``
        ``float32`` (``meta["content"]`` names the embedding).
    times : list[np.ndarray]
        ``N`` arrays ``(T_i,)`` ``float64``: time of each step in seconds from the
        start of the video.
    labels : np.ndarray
        ``(N,)`` ``int64`` clip-level class id (index into ``class_names``); ``-1``
        where there is none.
    va : list[np.ndarray]
        ``N`` arrays ``(T_i, 2)`` ``float32``: per-step valence and arousal in
        ``[-1, 1]``; ``NaN`` where there is no rating (SEND rates valence only).
    present : list[np.ndarray]
        ``N`` arrays ``(T_i,)`` ``bool``: False where no face was found at that step
        (its crop or embedding was filled from the nearest step with a face).
    subjects : list[str]
        ``N`` subject ids for subject-independent protocols (``""`` unknown).
    names : list[str]
        ``N`` identifiers (file or folder paths).
    class_names : tuple[str, ...]
        Names of the clip classes, in class-id order.
    landmarks : list[np.ndarray] or None
        ``N`` arrays ``(T_i, 68, 2)`` ``float32`` landmarks in frame pixels, when the
        dataset has them (AFEW-VA); needed for the geometry embeddings.
    meta : dict
        Provenance: dataset, root, split, sampling, content.

    Raises
    ------
    ValueError
        If the lists differ in length, or a sequence's arrays disagree in ``T_i`` or
        a sequence is empty.
    """

    x: list[np.ndarray]
    times: list[np.ndarray]
    labels: np.ndarray
    va: list[np.ndarray]
    present: list[np.ndarray]
    subjects: list[str]
    names: list[str]
    class_names: tuple[str, ...]
    landmarks: list[np.ndarray] | None = None
    meta: dict = field(default_factory=dict)

    PER_ITEM: ClassVar[tuple[str, ...]] = ("x", "times", "labels", "va", "present", "subjects", "names", "landmarks")

    def __post_init__(self) -> None:
        n = len(self.x)
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        for attr in ("times", "labels", "va", "present", "subjects", "names") + (("landmarks",) if self.landmarks is not None else ()):
            if len(getattr(self, attr)) != n:
                raise ValueError(f"SequenceSet.{attr} has {len(getattr(self, attr))} entries, x has {n}")
        for i in range(n):
            t = len(self.x[i])
            if t == 0:
                raise ValueError(f"SequenceSet: sequence {self.names[i]!r} is empty")
            if len(self.times[i]) != t or len(self.va[i]) != t or len(self.present[i]) != t:
                raise ValueError(f"SequenceSet: sequence {self.names[i]!r} has arrays of different lengths")

    @property
    def content(self) -> str:
        """``"crops"`` or the name of the embedding in ``x``."""
        return str(self.meta.get("content", "crops"))

    @property
    def dim(self) -> int:
        """Embedding size ``D`` (or crop side ``S`` for crops)."""
        return int(self.x[0].shape[-1])

    @property
    def has_va(self) -> bool:
        """True if at least one step has a valence or arousal rating."""
        return any(np.isfinite(v).any() for v in self.va)

    @classmethod
    def concat(cls, sets: list["SequenceSet"]) -> "SequenceSet":
        """Join sequence sets (see :func:`concat`)."""
        return concat(sets)

    def with_x(self, x: list[np.ndarray], content: str) -> "SequenceSet":
        """The same sequences with ``x`` replaced (e.g. crops by embeddings)."""
        return SequenceSet(x, self.times, self.labels, self.va, self.present, self.subjects, self.names,
                           self.class_names, self.landmarks, {**self.meta, "content": content})


def concat(sets: list[SequenceSet]) -> SequenceSet:
    """Join sequence sets with the same classes and content.

    Raises
    ------
    ValueError
        If the list is empty or the sets differ in classes or content.
    """
    if not sets:
        raise ValueError("concat needs at least one SequenceSet")
    first = sets[0]
    for s in sets[1:]:
        if s.class_names != first.class_names or s.content != first.content:
            raise ValueError("concat: SequenceSets differ in class names or content")
    lm = None if any(s.landmarks is None for s in sets) else [a for s in sets for a in s.landmarks]
    return SequenceSet(
        [a for s in sets for a in s.x], [a for s in sets for a in s.times],
        np.concatenate([s.labels for s in sets]), [a for s in sets for a in s.va],
        [a for s in sets for a in s.present], [a for s in sets for a in s.subjects],
        [a for s in sets for a in s.names], first.class_names, lm, dict(first.meta),
    )


def sample_times(duration_s: float, *, rate: float | None = None, count: int | None = None) -> np.ndarray:
    """Times at which to sample a video's frames.

    Two schemes of the seed papers: a fixed rate (Jin et al. 2019 take 2 frames per
    second, one per 0.5 s rating step of SEND) or a fixed count spread evenly over the
    clip (Ouyang et al. 2017 and C3D take 16 frames).

    Parameters
    ----------
    duration_s : float
        Clip length in seconds (> 0).
    rate : float, optional
        Frames per second: times ``0, 1/rate, 2/rate, ... < duration_s``.
    count : int, optional
        Number of frames: the centres of ``count`` equal parts of the clip.

    Returns
    -------
    np.ndarray
        ``(T,)`` ``float64`` seconds, increasing; at least one time.

    Raises
    ------
    ValueError
        If not exactly one of ``rate`` and ``count`` is given, or a value is not
        positive and finite.
    """
    if (rate is None) == (count is None):
        raise ValueError("give exactly one of rate (frames per second) and count (frames per clip)")
    if not (duration_s > 0 and math.isfinite(duration_s)):
        raise ValueError(f"duration must be a positive number of seconds, got {duration_s}")
    if rate is not None:
        if not (rate > 0 and math.isfinite(rate)):
            raise ValueError(f"rate must be a positive number of frames per second, got {rate}")
        n = max(1, int(math.ceil(duration_s * rate - 1e-9)))
        return np.arange(n, dtype=np.float64) / rate
    if int(count) < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return (np.arange(int(count), dtype=np.float64) + 0.5) * duration_s / int(count)


def nearest_indices(frame_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the frame nearest to each requested time.

    Parameters
    ----------
    frame_times : np.ndarray
        ``(F,)`` increasing frame times, seconds.
    times : np.ndarray
        ``(T,)`` requested times, seconds.

    Returns
    -------
    np.ndarray
        ``(T,)`` ``int64`` indices into ``frame_times``.
    """
    frame_times = np.asarray(frame_times, dtype=np.float64)
    pos = np.clip(np.searchsorted(frame_times, times), 1, max(1, len(frame_times) - 1))
    if len(frame_times) == 1:
        return np.zeros(len(times), dtype=np.int64)
    left = frame_times[pos - 1]
    right = frame_times[np.minimum(pos, len(frame_times) - 1)]
    return np.where(np.abs(times - left) <= np.abs(right - times), pos - 1, pos).astype(np.int64)


def resample_steps(n: int, count: int) -> np.ndarray:
    """``count`` indices spread evenly over ``n`` steps (repeats when ``n < count``).

    Returns
    -------
    np.ndarray
        ``(count,)`` ``int64`` indices in ``[0, n)``, non-decreasing.
    """
    return np.minimum(((np.arange(count) + 0.5) * n / count).astype(np.int64), n - 1)


def fill_missing(x: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Fill steps without a face with the nearest step that has one.

    Parameters
    ----------
    x : np.ndarray
        ``(T, ...)`` per-step values.
    present : np.ndarray
        ``(T,)`` bool, at least one True.

    Returns
    -------
    np.ndarray
        A copy of ``x`` in which every row with ``present`` False holds the row of the
        nearest present step (earlier one on ties).

    Raises
    ------
    ValueError
        If no step is present.
    """
    present = np.asarray(present, dtype=bool)
    idx = np.flatnonzero(present)
    if idx.size == 0:
        raise ValueError("no step of the sequence has a face")
    near = idx[nearest_indices(idx.astype(np.float64), np.arange(len(present), dtype=np.float64))]
    return np.asarray(x)[near].copy()


def pad_batch(xs: list[np.ndarray], *, va: list[np.ndarray] | None = None) -> dict[str, torch.Tensor]:
    """Right-pad sequences into one batch (what the temporal models take).

    Parameters
    ----------
    xs : list of np.ndarray
        ``B`` sequences ``(T_i, D)`` float.
    va : list of np.ndarray, optional
        ``B`` per-step targets ``(T_i, 2)``; padded with NaN.

    Returns
    -------
    dict
        ``x`` ``(B, T, D)`` ``float32`` (zeros at padding), ``mask`` ``(B, T)`` bool
        (True at real steps), and ``va`` ``(B, T, 2)`` ``float32`` when given.
    """
    t_max = max(len(a) for a in xs)
    d = xs[0].shape[1]
    x = np.zeros((len(xs), t_max, d), dtype=np.float32)
    mask = np.zeros((len(xs), t_max), dtype=bool)
    out_va = np.full((len(xs), t_max, 2), np.nan, dtype=np.float32) if va is not None else None
    for i, a in enumerate(xs):
        x[i, : len(a)] = a
        mask[i, : len(a)] = True
        if out_va is not None:
            out_va[i, : len(a)] = va[i]
    batch = {"x": torch.from_numpy(x), "mask": torch.from_numpy(mask)}
    if out_va is not None:
        batch["va"] = torch.from_numpy(out_va)
    return batch
