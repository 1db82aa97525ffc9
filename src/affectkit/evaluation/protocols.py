"""Evaluation protocols: the protocol string, subject-independent splits
(the runner pools their predictions), and summaries over training seeds.

A protocol is written as one string, parsed once by :func:`parse_protocol` into a
:class:`Protocol`, whose :meth:`Protocol.folds` gives the ``(train_idx, test_idx)``
folds of every modality (faces, sequences, voice; the experiment runner
:func:`affectkit.evaluation.runner.run` calls it):

* ``split``: train on one set, test on another (an official split, a hold-out, or a
  cross-dataset protocol: train on corpus A, test on corpus B): one fold.
* ``kfold:K``: ``K`` folds by subject (:func:`subject_kfold`), reshuffled per seed.
* ``loso``: leave one subject out (:func:`leave_one_subject_out`).

Subject-independent evaluation (no person in both training and test data) is the
standard for facial expression corpora such as CK+ and Oulu-CASIA (Lucey et al. 2010;
Zhao et al. 2011): k-fold over subjects or leave-one-subject-out (LOSO).

Scores over several seeds are reported as mean ± sample standard deviation, and the
seeds' probabilities can be averaged into an ensemble.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from affectkit.errors import ProtocolError

Fold = tuple[np.ndarray, np.ndarray]

PROTOCOLS = ("split", "kfold:K", "loso")
"""The protocol strings :func:`parse_protocol` accepts (``K`` a whole number >= 2)."""


@dataclass(frozen=True)
class Protocol:
    """A parsed evaluation protocol (see :func:`parse_protocol`).

    Attributes
    ----------
    kind : {"split", "kfold", "loso"}
    k : int or None
        Number of folds for ``kfold`` (``>= 2``); None otherwise.
    """

    kind: str
    k: int | None = None

    def __post_init__(self) -> None:
        ok = (self.kind in ("split", "loso") and self.k is None) or (
            self.kind == "kfold" and isinstance(self.k, (int, np.integer)) and self.k >= 2)
        if not ok:
            raise ProtocolError(f"protocol must be split, kfold:K (K >= 2 folds by subject) or loso, "
                                f"got kind={self.kind!r}, k={self.k!r}")

    def __str__(self) -> str:
        """The protocol string: ``split``, ``kfold:K`` or ``loso``."""
        return f"kfold:{self.k}" if self.kind == "kfold" else self.kind

    @property
    def by_subject(self) -> bool:
        """True for the subject-independent protocols (``kfold:K``, ``loso``), which need subject ids."""
        return self.kind != "split"

    def folds(
        self,
        *,
        seed: int = 0,
        groups: Sequence | np.ndarray | None = None,
        stratify: Sequence | np.ndarray | None = None,
        split: tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray] | None = None,
        max_train: int | None = None,
    ) -> list[Fold]:
        """The ``(train_idx, test_idx)`` folds of this protocol for one seed.

        Parameters
        ----------
        seed : int
            Seeds the subject shuffle of ``kfold`` and the ``max_train`` subset.
        groups : array-like, optional
            ``(N,)`` subject ids of the ``N`` items; required by ``kfold`` and ``loso``.
        stratify : array-like, optional
            ``(N,)`` int class ids: ``kfold`` folds then keep the class mix
            (:func:`subject_kfold`'s ``labels``).
        split : (array-like, array-like), optional
            ``split`` only, and required there: the int indices of the training items
            and of the test items (one pool holds both).
        max_train : int, optional
            Use a seeded random subset of at most this many items: of the training side
            for ``split``, of all ``N`` items (before folding) for ``kfold``/``loso``.

        Returns
        -------
        list of (np.ndarray, np.ndarray)
            int64 index pairs into the pool: one pair for ``split``, ``K`` for
            ``kfold:K``, one per subject for ``loso``.

        Raises
        ------
        ProtocolError
            ``split`` without ``split``, ``kfold``/``loso`` without ``groups``, or
            ``groups``/``stratify`` of different lengths.
        ValueError
            Fewer subjects than folds (from :func:`subject_kfold`,
            :func:`leave_one_subject_out`).
        """
        rng = np.random.default_rng(seed)
        if self.kind == "split":
            if split is None:
                raise ProtocolError("the split protocol needs a training set and a test set")
            tr, te = (np.asarray(s, dtype=np.int64).reshape(-1) for s in split)
            if max_train and len(tr) > max_train:
                tr = tr[np.sort(rng.choice(len(tr), max_train, replace=False))]
            return [(tr, te)]
        if groups is None:
            raise ProtocolError(f"protocol {self} needs a subject id for every item")
        g = np.asarray(groups)
        y = None if stratify is None else np.asarray(stratify)
        if y is not None and y.shape != g.shape:
            raise ProtocolError(f"protocol {self}: {len(y)} class ids for {len(g)} subject ids")
        keep = np.arange(len(g), dtype=np.int64)
        if max_train and len(g) > max_train:
            keep = np.sort(rng.choice(len(g), max_train, replace=False)).astype(np.int64)
            g, y = g[keep], None if y is None else y[keep]
        folds = leave_one_subject_out(g) if self.kind == "loso" else subject_kfold(g, self.k, seed=seed, labels=y)
        return [(keep[tr], keep[te]) for tr, te in folds]


def parse_protocol(text: str | Protocol) -> Protocol:
    """Parse a protocol string; the one place protocol strings are read.

    Parameters
    ----------
    text : str or Protocol
        ``split``, ``kfold:K`` (``K`` a whole number >= 2) or ``loso``; case and
        surrounding spaces are ignored. A :class:`Protocol` is returned as is.

    Returns
    -------
    Protocol

    Raises
    ------
    ProtocolError
        One line, for any other string (e.g. ``kfold``, ``kfold:1``, ``kfold:x``, ``holdout``).
    """
    if isinstance(text, Protocol):
        return text
    s = str(text).strip().lower()
    if s in ("split", "loso"):
        return Protocol(s)
    m = re.fullmatch(r"kfold\s*:\s*([0-9]+)", s)
    if m and int(m.group(1)) >= 2:
        return Protocol("kfold", int(m.group(1)))
    raise ProtocolError(f"protocol must be split, kfold:K (K >= 2 folds by subject) or loso, got {str(text)!r}")


def subject_kfold(
    groups: Sequence | np.ndarray, k: int, seed: int = 0, *, labels: Sequence | np.ndarray | None = None
) -> list[Fold]:
    """Subject-independent k-fold splits.

    Uses scikit-learn ``GroupKFold(shuffle=True, random_state=seed)``, or, when
    ``labels`` are given, ``StratifiedGroupKFold`` (folds keep the class mix as far as
    whole subjects allow). The same ``groups``, ``k`` and ``seed`` always give the same
    folds.

    Parameters
    ----------
    groups : array-like
        ``(N,)`` subject id of every sample (any hashable dtype).
    k : int
        Number of folds, ``2 <= k <= number of subjects``.
    seed : int
        Seed of the subject shuffle.
    labels : array-like, optional
        ``(N,)`` integer class ids, for stratified folds.

    Returns
    -------
    list of (np.ndarray, np.ndarray)
        ``k`` pairs ``(train_idx, test_idx)`` of int64 sample indices; every index is in
        exactly one test fold and no subject is on both sides of a fold.

    Raises
    ------
    ValueError
        If ``k < 2``, there are fewer than ``k`` subjects, or ``labels`` has the wrong
        length.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    groups = np.asarray(groups)
    n_subjects = len(np.unique(groups))
    if k < 2 or n_subjects < k:
        raise ValueError(f"subject_kfold needs 2 <= k <= number of subjects, got k={k} and {n_subjects} subjects")
    x = np.zeros((len(groups), 1))
    if labels is None:
        splits = GroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, groups=groups)
    else:
        labels = np.asarray(labels)
        if labels.shape != groups.shape:
            raise ValueError(f"labels {labels.shape} and groups {groups.shape} differ in shape")
        splits = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(x, labels, groups)
    return [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in splits]


def leave_one_subject_out(groups: Sequence | np.ndarray) -> list[Fold]:
    """Leave-one-subject-out splits (scikit-learn ``LeaveOneGroupOut``).

    Parameters
    ----------
    groups : array-like
        ``(N,)`` subject id of every sample.

    Returns
    -------
    list of (np.ndarray, np.ndarray)
        One ``(train_idx, test_idx)`` int64 pair per subject, in sorted subject order;
        the test side holds exactly that subject's samples.

    Raises
    ------
    ValueError
        If there are fewer than two subjects.
    """
    from sklearn.model_selection import LeaveOneGroupOut

    groups = np.asarray(groups)
    if len(np.unique(groups)) < 2:
        raise ValueError("leave_one_subject_out needs at least two subjects")
    splits = LeaveOneGroupOut().split(np.zeros((len(groups), 1)), groups=groups)
    return [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in splits]



def _flatten(report: dict, prefix: str = "") -> dict[str, float]:
    """Scalar numbers of a nested dict, keys joined with "/"; lists, None and bools dropped."""
    flat: dict[str, float] = {}
    for key, val in report.items():
        name = f"{prefix}{key}"
        if isinstance(val, dict):
            flat.update(_flatten(val, name + "/"))
        elif isinstance(val, (int, float, np.integer, np.floating)) and not isinstance(val, (bool, np.bool_)):
            flat[name] = float(val)
    return flat


def summarize_seeds(reports: Sequence[dict], keys: Sequence[str] | None = None) -> dict[str, dict]:
    """Mean and standard deviation of every scalar metric over several runs (seeds, folds).

    Parameters
    ----------
    reports : sequence of dict
        Reports such as :func:`~affectkit.evaluation.metrics.classification_report`'s.
        Nested dicts are flattened with "/" (``"valence/ccc"``); only scalar numbers are
        summarised (lists such as ``recall``, None and bools are skipped).
    keys : sequence of str, optional
        Flattened keys to summarise; default every scalar key, in first-seen order.

    Returns
    -------
    dict
        ``{key: {"mean": float, "std": float, "n": int, "values": list of float}}`` over
        the reports that have the key. ``std`` is the sample standard deviation
        (``ddof=1``), NaN when ``n == 1``. A NaN value makes mean and std NaN.

    Raises
    ------
    KeyError
        If a requested key is in none of the reports.
    """
    flats = [_flatten(r) for r in reports]
    if keys is None:
        keys = list(dict.fromkeys(k for f in flats for k in f))
    summary = {}
    for key in keys:
        values = [f[key] for f in flats if key in f]
        if not values:
            raise KeyError(f"summarize_seeds: {key!r} is in none of the reports")
        std = float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")
        summary[key] = {"mean": float(np.mean(values)), "std": std, "n": len(values), "values": values}
    return summary


def ensemble(probas: Sequence[np.ndarray], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of class-probability arrays, e.g. of models trained with different seeds.

    Parameters
    ----------
    probas : sequence of np.ndarray
        ``M`` arrays of shape ``(N, C)``, float probabilities (rows summing to 1).
    weights : sequence of float, optional
        ``M`` non-negative weights, not all 0; normalised to sum to 1. Default equal.

    Returns
    -------
    np.ndarray
        ``(N, C)`` float64 averaged probabilities.

    Raises
    ------
    ValueError
        If ``probas`` is empty, the arrays are not 2-D of one shape, or the weights have
        the wrong length, are negative or all 0.
    """
    if len(probas) == 0:
        raise ValueError("ensemble needs at least one probability array")
    arrs = [np.asarray(p, dtype=np.float64) for p in probas]
    if arrs[0].ndim != 2 or any(a.shape != arrs[0].shape for a in arrs):
        raise ValueError(f"ensemble needs (N, C) arrays of one shape, got {[a.shape for a in arrs]}")
    w = np.ones(len(arrs)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(arrs),) or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"ensemble needs {len(arrs)} non-negative weights, not all 0, got {np.ravel(w).tolist()}")
    return np.tensordot(w / w.sum(), np.stack(arrs), axes=1)


def format_mean_std(summary_entry: dict, scale: float = 100, digits: int = 2) -> str:
    """Format one :func:`summarize_seeds` entry as ``"68.51 ± 0.42"``.

    Parameters
    ----------
    summary_entry : dict
        With ``"mean"`` and ``"std"`` (floats).
    scale : float
        Multiplier, 100 for percentages.
    digits : int
        Decimal places.

    Returns
    -------
    str
        ``"mean ± std"``, or just ``"mean"`` when the std is NaN (a single run).
    """
    mean, std = summary_entry["mean"] * scale, summary_entry["std"]
    if std is None or math.isnan(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std * scale:.{digits}f}"
