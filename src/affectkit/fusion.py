"""Late fusion of face and voice class scores, with explicit class mapping.

Every modality gives an ``(N, C_m)`` array of class probabilities for the same ``N``
samples (clips): the face model a clip-level average of its 7 expression columns
(:data:`affectkit.expressions.EXPRESSIONS`), a voice model the classes of the corpus it
was trained on (EmoDB adds *boredom*, RAVDESS *calm*, IEMOCAP has only 4 classes).
Fusion happens at the score level ("late fusion"), which Vielzeuf et al. (2018) found
as good as anything more elaborate when the training set is small.

1. **Class alignment** (:class:`ClassMap`, :func:`align_classes`). Columns are matched
   to a target class list *by name*, never by position. A class with no counterpart
   (boredom, calm) must be given a rule -- merged into a target class
   (``mapping={"boredom": "neutral"}`` adds its column to *neutral*) or dropped
   (``drop=["boredom"]``: its probability mass is removed and the row renormalised) --
   otherwise :class:`ValueError` lists the unmatched names. A target class that a
   modality cannot predict (the voice has no *surprise*) is marked in a coverage mask.
2. **Fusion** (:func:`fuse_mean`, :func:`fuse_weighted`). For every class the fused
   score is the weighted mean over the modalities that *cover* that class and are
   *available* for the sample::

       fused[n, c] = sum_m w[m, c] a[m, n, c] p[m, n, c] / sum_m w[m, c] a[m, n, c]

   with ``a[m, n, c] = coverage[m, c] and (row n of modality m is not NaN)``, so a
   modality is never punished for a class it has no column for (fused *surprise* comes
   from the face alone), and a sample whose face or audio is missing (NaN row) is
   scored from the modality it has. Rows are then renormalised to sum to 1.
3. **Learned weights**. :func:`learn_fusion_weights`: one weight per modality, chosen
   on a validation set by an exhaustive search of a simplex grid (Vielzeuf et al.
   2018), or a multinomial logistic-regression stacker on the log-probabilities.
   :func:`search_class_weights`: one weight per modality *and class* from
   ``{0, 0.5, 1}``, chosen on a validation set (Ouyang et al. 2017).
4. **Seed ensembles** (:func:`ensemble_modalities`): each modality's runs over training
   seeds are averaged with :func:`affectkit.evaluation.protocols.ensemble` before
   fusion.

:class:`LateFusion` ties these together and saves to / loads from JSON, so a fused
model can live next to the face and voice model files.

References
----------
Vielzeuf, Kervadec, Pateux, Lechervy & Jurie (2018). An Occam's razor view on learning
audiovisual emotion recognition with small training sets. ICMI.

Ouyang, Kawaai, Goh, Shen, Ding, Ming & Huang (2017). Audio-visual emotion recognition
using deep transfer learning and multiple temporal models. ICMI.
"""

from __future__ import annotations

import itertools
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

ON_MISSING = ("error", "zero", "renorm")
"""Rules for source classes that have no counterpart and no explicit mapping."""

METRICS = ("accuracy", "uar")
"""Validation metrics the weight searches maximise (UAR = unweighted average recall)."""

FUSION_METHODS = ("mean", "weighted", "class_weights", "logistic")
"""``LateFusion.method`` values."""

_LOG_FLOOR = 1e-6  # log-probability features of the stacker are clipped here (log 0 = -inf)


# --------------------------------------------------------------------------- classes


def _names(names: Sequence[str], what: str) -> tuple[str, ...]:
    """Class names normalised (stripped, lower case); duplicates and empties raise."""
    if isinstance(names, str):
        raise ValueError(f"{what} must be a sequence of class names, not the string {names!r}")
    out = tuple(str(n).strip().lower() for n in names)
    if not out or any(not n for n in out):
        raise ValueError(f"{what} must be non-empty class names, got {list(names)}")
    dup = sorted({n for n in out if out.count(n) > 1})
    if dup:
        raise ValueError(f"{what} has duplicate class names {dup}")
    return out


@dataclass(frozen=True)
class ClassMap:
    """An explicit mapping of one modality's class columns onto a target class list.

    Build it with :meth:`build`; apply it with :meth:`apply`.

    Attributes
    ----------
    from_names : tuple of str
        The modality's class names, in its column order.
    to_names : tuple of str
        The target (fused) class names, in output column order.
    mapping : dict of str to str
        Target class of every kept source class (identical names included). Several
        sources mapped to one target are summed (merged).
    drop : tuple of str
        Source classes removed with their probability mass; rows are renormalised over
        the kept classes (``p_kept / (1 - p_dropped)``).
    discard : tuple of str
        Source classes removed *without* renormalisation (``on_missing="zero"``): the
        rows then sum to less than 1 and the lost mass stays visible.
    """

    from_names: tuple[str, ...]
    to_names: tuple[str, ...]
    mapping: dict[str, str]
    drop: tuple[str, ...] = ()
    discard: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        from_names: Sequence[str],
        to_names: Sequence[str],
        mapping: Mapping[str, str | None] | None = None,
        drop: Sequence[str] = (),
        on_missing: str = "error",
    ) -> "ClassMap":
        """Match class names and apply the explicit rules.

        Parameters
        ----------
        from_names : sequence of str
            ``C_m`` class names of the modality, in column order (names are compared
            stripped and lower-case).
        to_names : sequence of str
            ``C`` target class names, e.g. :data:`affectkit.expressions.EXPRESSIONS`.
        mapping : dict, optional
            ``{source: target}`` for sources whose name differs from their target
            (``{"boredom": "neutral"}`` merges boredom into neutral); a target of None
            drops the source like ``drop``.
        drop : sequence of str
            Source classes to remove, renormalising rows over the rest.
        on_missing : {"error", "zero", "renorm"}
            Rule for source classes that match no target name and have no rule:
            ``"error"`` (default) raises; ``"zero"`` discards their mass without
            renormalising; ``"renorm"`` drops them and renormalises. The two lenient
            rules issue a :class:`UserWarning` naming the classes.

        Returns
        -------
        ClassMap

        Raises
        ------
        ValueError
            If names are duplicated or empty, a mapping or drop names a class that the
            modality does not have, a mapping target is not a target class, a class is
            both mapped and dropped, ``on_missing`` is unknown, every source class is
            dropped, or (``on_missing="error"``) some source classes are unmatched -- the
            message lists them.
        """
        src, dst = _names(from_names, "from_names"), _names(to_names, "to_names")
        if on_missing not in ON_MISSING:
            raise ValueError(f"on_missing must be one of {ON_MISSING}, got {on_missing!r}")
        rules = {str(k).strip().lower(): (None if v is None else str(v).strip().lower()) for k, v in (mapping or {}).items()}
        dropped = [str(d).strip().lower() for d in drop]
        unknown = sorted((set(rules) | set(dropped)) - set(src))
        if unknown:
            raise ValueError(f"mapping/drop name classes {unknown} that the modality does not have (its classes: {list(src)})")
        bad = sorted({v for v in rules.values() if v is not None} - set(dst))
        if bad:
            raise ValueError(f"mapping targets {bad} are not target classes {list(dst)}")
        both = sorted(set(dropped) & {k for k, v in rules.items() if v is not None})
        if both:
            raise ValueError(f"classes {both} are both mapped and dropped")
        kept: dict[str, str] = {}
        drop_out, unmatched = [], []
        for name in src:
            if name in rules:
                if rules[name] is None:
                    drop_out.append(name)
                else:
                    kept[name] = rules[name]
            elif name in dropped:
                drop_out.append(name)
            elif name in dst:
                kept[name] = name
            else:
                unmatched.append(name)
        discard: list[str] = []
        if unmatched:
            if on_missing == "error":
                raise ValueError(
                    f"classes {unmatched} have no counterpart in the target classes {list(dst)}; "
                    f"merge them (mapping={{{unmatched[0]!r}: 'neutral'}}) or drop them (drop={unmatched!r})"
                )
            warnings.warn(
                f"classes {unmatched} have no counterpart in {list(dst)}: "
                + ("dropped, rows renormalised" if on_missing == "renorm" else "their probability mass is discarded"),
                UserWarning,
                stacklevel=2,
            )
            (drop_out if on_missing == "renorm" else discard).extend(unmatched)
        if not kept:
            raise ValueError(f"no class of {list(src)} is kept: nothing to map onto {list(dst)}")
        return cls(src, dst, kept, tuple(drop_out), tuple(discard))

    @property
    def matrix(self) -> np.ndarray:
        """``(C_m, C)`` float64 0/1 matrix: ``proba @ matrix`` sums sources into targets."""
        m = np.zeros((len(self.from_names), len(self.to_names)))
        for s, t in self.mapping.items():
            m[self.from_names.index(s), self.to_names.index(t)] = 1.0
        return m

    @property
    def coverage(self) -> np.ndarray:
        """``(C,)`` bool: which target classes this modality has a column for."""
        return np.array([t in self.mapping.values() for t in self.to_names])

    def describe(self) -> list[str]:
        """Human-readable rules, one per line, for logs and reports (nothing is implicit)."""
        lines = []
        for t in self.to_names:
            srcs = [s for s, tt in self.mapping.items() if tt == t]
            if not srcs:
                lines.append(f"{t}: not covered (fused from the other modalities only)")
            elif srcs != [t]:
                lines.append(f"{t}: sum of {srcs}")
        lines += [f"{s}: dropped, rows renormalised" for s in self.drop]
        lines += [f"{s}: discarded, mass lost (rows sum < 1)" for s in self.discard]
        return lines

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Map a modality's probabilities onto the target classes.

        Parameters
        ----------
        proba : array-like
            ``(N, C_m)`` non-negative float probabilities in ``from_names`` order. A row
            of NaN marks a sample the modality has no output for (no face / no audio).

        Returns
        -------
        np.ndarray
            ``(N, C)`` float64 in ``to_names`` order; uncovered target columns are 0,
            NaN rows stay NaN. A row whose whole mass was on dropped classes becomes
            uniform over the covered classes (it says nothing about them).

        Raises
        ------
        ValueError
            If ``proba`` is not ``(N, C_m)``, has negative or infinite values, or a row
            that is only partly NaN.
        """
        p = _check_proba(proba, "proba", n_cols=len(self.from_names))
        out = p @ self.matrix
        if self.drop:
            idx = [self.from_names.index(d) for d in self.drop]
            total = p.sum(1)
            rest = total - p[:, idx].sum(1)
            with np.errstate(invalid="ignore", divide="ignore"):
                out *= (total / rest)[:, None]
            dead = np.isfinite(total) & (rest <= 0)
            if dead.any():
                cov = self.coverage
                out[dead] = 0.0
                out[np.ix_(dead, cov)] = 1.0 / cov.sum()
        return out

    def to_dict(self) -> dict:
        """JSON-able dict; :meth:`from_dict` restores it."""
        return {
            "from_names": list(self.from_names),
            "to_names": list(self.to_names),
            "mapping": dict(self.mapping),
            "drop": list(self.drop),
            "discard": list(self.discard),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "ClassMap":
        """Inverse of :meth:`to_dict` (re-validated).

        Raises
        ------
        ValueError
            If the dict is inconsistent (see :meth:`build`), e.g. a class neither
            mapped nor dropped.
        """
        mapping = {s: t for s, t in d["mapping"].items() if s != t}
        drop, discard = list(d.get("drop", ())), list(d.get("discard", ()))
        # Validate with both lists dropped, then restore which ones are discarded.
        cm = cls.build(d["from_names"], d["to_names"], mapping, drop + discard, on_missing="error")
        return cls(cm.from_names, cm.to_names, cm.mapping, tuple(_names(drop, "drop")) if drop else (),
                   tuple(_names(discard, "discard")) if discard else ())


def align_classes(
    proba: np.ndarray,
    from_names: Sequence[str],
    to_names: Sequence[str],
    mapping: Mapping[str, str | None] | None = None,
    drop: Sequence[str] = (),
    on_missing: str = "error",
) -> tuple[np.ndarray, np.ndarray]:
    """Map a modality's probability columns onto target classes by name.

    See :meth:`ClassMap.build` for the rules; this is ``ClassMap.build(...).apply(proba)``.

    Parameters
    ----------
    proba : array-like
        ``(N, C_m)`` float probabilities in ``from_names`` order; NaN rows = missing.
    from_names, to_names : sequence of str
        Source (``C_m``) and target (``C``) class names.
    mapping : dict, optional
        ``{source: target or None}`` explicit merges (None drops).
    drop : sequence of str
        Source classes to drop, renormalising rows.
    on_missing : {"error", "zero", "renorm"}
        Rule for unmatched source classes (default: raise).

    Returns
    -------
    aligned : np.ndarray
        ``(N, C)`` float64 in ``to_names`` order.
    coverage : np.ndarray
        ``(C,)`` bool, True where the modality has a column for the target class.

    Raises
    ------
    ValueError
        On unmatched class names (listed in the message), bad rules or bad shapes.

    Examples
    --------
    EmoDB voice scores onto the face classes, boredom merged into neutral:

    >>> from affectkit.expressions import EXPRESSIONS
    >>> voice = np.array([[0.1, 0.4, 0.0, 0.0, 0.1, 0.1, 0.3]])
    >>> emodb = ["anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral"]
    >>> p, cov = align_classes(voice, emodb, EXPRESSIONS, mapping={"boredom": "neutral"})
    >>> p.round(2).tolist(), cov.tolist()
    ([[0.1, 0.0, 0.0, 0.1, 0.1, 0.0, 0.7]], [True, True, True, True, True, False, True])
    """
    cm = ClassMap.build(from_names, to_names, mapping, drop, on_missing)
    return cm.apply(proba), cm.coverage


# --------------------------------------------------------------------------- fusion


def _check_proba(proba, what: str, n_cols: int | None = None) -> np.ndarray:
    """``(N, C)`` float64 copy; rows all-finite >= 0 or all-NaN, else ValueError."""
    p = np.array(proba, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] == 0:
        raise ValueError(f"{what} must be a 2-D (N, C) array of probabilities, got shape {p.shape}")
    if n_cols is not None and p.shape[1] != n_cols:
        raise ValueError(f"{what} has {p.shape[1]} columns, expected {n_cols} (one per class name)")
    nan = np.isnan(p)
    partial = nan.any(1) & ~nan.all(1)
    if partial.any():
        raise ValueError(
            f"{what}: rows {np.flatnonzero(partial)[:5].tolist()} are partly NaN; a missing modality "
            "must be a whole row of NaN"
        )
    if np.isinf(p).any():
        raise ValueError(f"{what} contains infinite values")
    if (p[~nan] < 0).any():
        raise ValueError(f"{what} contains negative values; fusion needs probabilities, not logits")
    return p


def _stack(probas, what: str = "probas") -> np.ndarray:
    """``(M, N, C)`` float64 from a sequence of ``(N, C)`` arrays (or a 3-D array)."""
    if isinstance(probas, Mapping):
        raise ValueError(f"{what}: pass a sequence of arrays here; LateFusion takes a dict by modality name")
    if isinstance(probas, np.ndarray) and probas.ndim != 3:
        raise ValueError(f"{what} must be M arrays (N, C) or one (M, N, C) array, got an array of shape {probas.shape}")
    arrs = [_check_proba(p, f"{what}[{i}]") for i, p in enumerate(probas)]
    if not arrs:
        raise ValueError(f"{what} needs at least one modality")
    if any(a.shape != arrs[0].shape for a in arrs):
        raise ValueError(f"{what}: all modalities must be (N, C) of one shape, got {[a.shape for a in arrs]}")
    return np.stack(arrs)


def _coverage(coverage, m: int, c: int) -> np.ndarray:
    if coverage is None:
        return np.ones((m, c), dtype=bool)
    cov = np.asarray(coverage, dtype=bool)
    if cov.shape != (m, c):
        raise ValueError(f"coverage must be ({m}, {c}) bool (modalities x classes), got shape {cov.shape}")
    return cov


def _weights(weights, m: int, c: int) -> np.ndarray:
    w = np.asarray(weights, dtype=np.float64)
    if w.shape == (m,):
        w = np.repeat(w[:, None], c, axis=1)
    if w.shape != (m, c):
        raise ValueError(f"weights must be ({m},) per modality or ({m}, {c}) per modality and class, got {w.shape}")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be finite and non-negative, got {w.tolist()}")
    return w


def _fuse(p: np.ndarray, w: np.ndarray, cov: np.ndarray, normalize: bool = True) -> np.ndarray:
    """Core of :func:`fuse_weighted` on validated ``(M,N,C)``, ``(M,C)``, ``(M,C)`` arrays."""
    avail = ~np.isnan(p[:, :, 0])  # (M, N)
    a = avail[:, :, None] & cov[:, None, :]
    vals = np.where(a, p, 0.0)

    def weighted(wm):
        ww = wm[:, None, :] * a
        den = ww.sum(0)
        num = (ww * vals).sum(0)
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0), den

    fused, den = weighted(w)
    # A row whose available modalities all have weight 0 (e.g. voice weight 0, face
    # missing) would be all zeros; use their plain mean instead of an arbitrary argmax.
    dead = (den.sum(1) == 0) & avail.any(0)
    if dead.any():
        fused[dead] = weighted(np.ones_like(w))[0][dead]
    if normalize:
        s = fused.sum(1, keepdims=True)
        fused = np.divide(fused, s, out=fused, where=s > 0)
    fused[~avail.any(0)] = np.nan
    return fused


def fuse_weighted(
    probas: Sequence[np.ndarray],
    weights: Sequence[float] | np.ndarray,
    coverage: np.ndarray | None = None,
    *,
    normalize: bool = True,
) -> np.ndarray:
    """Weighted late fusion, per class over the modalities that cover it.

    ``fused[n, c] = sum_m w[m, c] a[m, n, c] p[m, n, c] / sum_m w[m, c] a[m, n, c]``,
    ``a`` = modality ``m`` covers class ``c`` and has a (non-NaN) row ``n``.

    Parameters
    ----------
    probas : sequence of np.ndarray
        ``M`` arrays ``(N, C)`` of non-negative float probabilities, already aligned to
        one class list (:func:`align_classes`). A NaN row = that modality is missing
        for that sample.
    weights : array-like
        ``(M,)`` one weight per modality, or ``(M, C)`` per modality and class;
        finite, non-negative. Only ratios matter within a class.
    coverage : array-like, optional
        ``(M, C)`` bool, False where a modality has no column for a class (its 0 there
        is not a prediction). Default: all True.
    normalize : bool
        Renormalise each fused row to sum to 1 (default). Does not change the argmax.

    Returns
    -------
    np.ndarray
        ``(N, C)`` float64 fused scores. Fallbacks, per sample: a missing modality is
        left out (the sample is scored from the rest); a class that no available
        covering modality weights above 0 scores 0; if the available modalities all
        have weight 0 in every class, their plain mean is used; if every modality is
        missing, the row is NaN.

    Raises
    ------
    ValueError
        If the arrays differ in shape, are not 2-D, hold negative/infinite values or
        partly-NaN rows, or ``weights``/``coverage`` have the wrong shape or values.
    """
    p = _stack(probas)
    m, _, c = p.shape
    return _fuse(p, _weights(weights, m, c), _coverage(coverage, m, c), normalize)


def fuse_mean(probas: Sequence[np.ndarray], coverage: np.ndarray | None = None, *, normalize: bool = True) -> np.ndarray:
    """Plain mean of the modalities' probabilities (per class over covering modalities).

    :func:`fuse_weighted` with all weights 1; same parameters, returns and errors.
    """
    p = _stack(probas)
    m, _, c = p.shape
    return _fuse(p, np.ones((m, c)), _coverage(coverage, m, c), normalize)


# --------------------------------------------------------------------------- learning


def _labels(labels, n: int, c: int, class_names: Sequence[str] | None = None) -> np.ndarray:
    y = np.asarray(labels)
    if y.dtype.kind in "USO":
        if class_names is None:
            raise ValueError("string labels need class_names")
        names = [str(s).strip().lower() for s in class_names]
        given = [str(v).strip().lower() for v in y.tolist()]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"labels {unknown} are not classes {names}")
        y = np.array([names.index(v) for v in given], dtype=np.int64)
    if y.shape != (n,):
        raise ValueError(f"labels must be ({n},), one per sample, got shape {y.shape}")
    if y.dtype.kind not in "iu" or (len(y) and (y.min() < 0 or y.max() >= c)):
        raise ValueError(f"labels must be integer class ids in [0, {c}), got {np.unique(y)[:10].tolist()}")
    return y.astype(np.int64)


def _scorer(metric: str):
    """``score(y_true, y_pred) -> float`` for a metric of :data:`METRICS`.

    Plain numpy, because the searches call it thousands of times; equal to
    ``classification_report``'s ``accuracy`` and ``uar`` (mean recall over the classes
    present in ``y_true``; scikit-learn's ``balanced_accuracy_score``).
    """
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")
    if metric == "accuracy":
        return lambda y, pred: float(np.mean(y == pred))

    def uar(y, pred):
        support = np.bincount(y)
        hits = np.bincount(y[y == pred], minlength=len(support))
        present = support > 0
        return float(np.mean(hits[present] / support[present]))

    return uar


def _prepare(val_probas, val_labels, coverage, metric):
    p = _stack(val_probas, "val_probas")
    m, n, c = p.shape
    y = _labels(val_labels, n, c)
    cov = _coverage(coverage, m, c)
    # Samples with no modality at all cannot be changed by any weight: leave them out.
    keep = ~np.isnan(p[:, :, 0]).all(0)
    if not keep.any():
        raise ValueError("no validation sample has any modality")
    return p[:, keep], y[keep], cov, _scorer(metric)


def _simplex_grid(m: int, step: float) -> np.ndarray:
    k = round(1.0 / step)
    if step <= 0 or not np.isclose(k * step, 1.0):
        raise ValueError(f"step must be 1/k for an integer k >= 1, got {step}")
    pts = [(*head, k - sum(head)) for head in itertools.product(range(k + 1), repeat=m - 1) if sum(head) <= k]
    return np.array(pts, dtype=np.float64) / k


def learn_fusion_weights(
    val_probas: Sequence[np.ndarray],
    val_labels: Sequence[int] | np.ndarray,
    method: str = "grid",
    *,
    metric: str = "accuracy",
    step: float = 0.05,
    coverage: np.ndarray | None = None,
    C: float = 1.0,
) -> dict:
    """Learn per-modality fusion weights on a validation set (Vielzeuf et al. 2018).

    ``method="grid"``: every weight vector on the simplex grid ``{w : w_m = i_m * step,
    sum w = 1}`` (21 points for 2 modalities at step 0.05, 231 for 3) is scored with
    :func:`fuse_weighted` on the validation set and the best kept. Ties (frequent:
    accuracy is a step function) go to the vector closest (Euclidean) to the plain
    mean ``1/M``, then to the first in grid order -- so the weights only leave the
    plain mean when validation data say so, and the result is deterministic.

    ``method="logistic"``: a multinomial logistic-regression stacker (scikit-learn
    ``LogisticRegression``, L2, ``C``) on the concatenated log-probabilities of the
    covered columns; ``class_weight="balanced"`` when ``metric="uar"``. A modality
    missing for a sample enters as a uniform distribution (no evidence). It can weight
    classes and modalities freely but, with ``M*C`` inputs, needs more validation data
    than the grid; its reported validation score is optimistic (it is fitted there).

    Parameters
    ----------
    val_probas : sequence of np.ndarray
        ``M`` aligned ``(N, C)`` float probability arrays; NaN rows = missing modality.
    val_labels : array-like
        ``(N,)`` int class ids in ``[0, C)``.
    method : {"grid", "logistic"}
    metric : {"accuracy", "uar"}
        Validation score to maximise (grid) / class weighting (logistic).
    step : float
        Grid spacing ``1/k`` (grid only).
    coverage : array-like, optional
        ``(M, C)`` bool coverage mask (see :func:`fuse_weighted`).
    C : float
        Inverse L2 strength of the stacker (logistic only).

    Returns
    -------
    dict
        ``"method"``, ``"metric"``, ``"score"`` (float, validation score of the
        choice), ``"n"`` (validation samples used: those with at least one modality)
        and either ``"weights"`` (``(M,)`` float64 summing to 1) and
        ``"candidates"`` (grid size), or ``"stacker"`` (JSON-able dict for
        :func:`stacker_predict_proba`).

    Raises
    ------
    ValueError
        On bad shapes/values (see :func:`fuse_weighted`), labels out of range, an
        unknown method or metric, a step that is not ``1/k``, or no usable sample.
    """
    p, y, cov, score = _prepare(val_probas, val_labels, coverage, metric)
    m, n, c = p.shape
    if method == "grid":
        grid = _simplex_grid(m, step)
        uniform = np.full(m, 1.0 / m)
        best, best_key = None, None
        for w in grid:
            s = float(score(y, _fuse(p, _weights(w, m, c), cov, normalize=False).argmax(1)))
            key = (round(s, 12), -round(float(np.linalg.norm(w - uniform)), 12))
            if best_key is None or key > best_key:  # strict: earlier grid points win exact ties
                best, best_key = w, key
        return {"method": "grid", "metric": metric, "weights": best, "score": best_key[0], "n": n,
                "candidates": len(grid)}
    if method == "logistic":
        from sklearn.linear_model import LogisticRegression

        from sklearn.preprocessing import StandardScaler

        x, features = _stack_features(p, cov)
        # Standardised inputs make lbfgs converge ~10x faster; the scaling is folded
        # back into the coefficients so the saved stacker is one linear map.
        scaler = StandardScaler().fit(x)
        lr = LogisticRegression(C=C, max_iter=2000, class_weight="balanced" if metric == "uar" else None)
        lr.fit(scaler.transform(x), y)
        coef = lr.coef_ / scaler.scale_
        intercept = lr.intercept_ - coef @ scaler.mean_
        stacker = {
            "features": features,
            "classes": lr.classes_.astype(int).tolist(),
            "coef": coef.tolist(),
            "intercept": intercept.tolist(),
            "n_classes": c,
        }
        s = float(score(y, stacker_predict_proba(p, stacker, cov).argmax(1)))
        return {"method": "logistic", "metric": metric, "stacker": stacker, "score": s, "n": n}
    raise ValueError(f"method must be 'grid' or 'logistic', got {method!r}")


def _stack_features(p: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, list[list[int]]]:
    """Log-probability features ``(N, F)`` of the covered columns, and their (m, c) ids."""
    cols, features = [], []
    for m in range(p.shape[0]):
        idx = np.flatnonzero(cov[m])
        q = p[m][:, idx]
        missing = np.isnan(q[:, 0])
        q = np.where(missing[:, None], 1.0 / len(idx), q)
        cols.append(np.log(np.clip(q, _LOG_FLOOR, None)))
        features += [[m, int(i)] for i in idx]
    return np.concatenate(cols, axis=1), features


def stacker_predict_proba(probas: Sequence[np.ndarray], stacker: Mapping, coverage: np.ndarray | None = None) -> np.ndarray:
    """Probabilities of a logistic-regression stacker from :func:`learn_fusion_weights`.

    Parameters
    ----------
    probas : sequence of np.ndarray
        ``M`` aligned ``(N, C)`` arrays, as at fitting time.
    stacker : dict
        ``learn_fusion_weights(..., method="logistic")["stacker"]``.
    coverage : array-like, optional
        ``(M, C)`` bool, as at fitting time.

    Returns
    -------
    np.ndarray
        ``(N, C)`` float64 rows summing to 1 (classes absent from the validation labels
        get 0); NaN rows where every modality is missing.

    Raises
    ------
    ValueError
        If the inputs do not match the stacker's features.
    """
    from scipy.special import expit, softmax

    p = _stack(probas)
    m, n, c = p.shape
    cov = _coverage(coverage, m, c)
    x, features = _stack_features(p, cov)
    if features != [list(f) for f in stacker["features"]] or c != stacker["n_classes"]:
        raise ValueError("probas/coverage do not match the stacker's features (modalities, classes or coverage differ)")
    z = x @ np.asarray(stacker["coef"]).T + np.asarray(stacker["intercept"])
    classes = np.asarray(stacker["classes"], dtype=int)
    if len(classes) == 2:  # scikit-learn's binary case keeps one logit, for classes[1]
        q = np.c_[1 - expit(z[:, 0]), expit(z[:, 0])]
    else:
        q = softmax(z, axis=1)
    out = np.zeros((n, c))
    out[:, classes] = q
    out[np.isnan(p[:, :, 0]).all(0)] = np.nan
    return out


def search_class_weights(
    val_probas: Sequence[np.ndarray],
    val_labels: Sequence[int] | np.ndarray,
    grid: Sequence[float] = (0.0, 0.5, 1.0),
    *,
    metric: str = "accuracy",
    coverage: np.ndarray | None = None,
    exhaustive_limit: int = 4096,
    max_rounds: int = 10,
) -> dict:
    """Per-class modality weights from a small grid, chosen on validation (Ouyang et al. 2017).

    Each class ``c`` gets a weight vector ``w[:, c]`` with entries from ``grid``; the
    fused score of class ``c`` is the weighted mean of the modalities' class-``c``
    probabilities (:func:`fuse_weighted`), so a modality can be trusted for the classes
    it recognises well and ignored for the others. Per class only the *ratio* of
    weights matters (``(0.5, 0.5)`` acts like ``(1, 1)``); the all-zero vector is not
    a candidate (it would make the class unpredictable), and a modality that does not
    cover a class always gets weight 0 there (it has no say).

    Search. Let ``K`` be the number of candidate vectors per class (8 for two
    modalities). If ``K**C <= exhaustive_limit`` every combination is scored
    (exhaustive). Otherwise coordinate ascent: start from all weights 1 (the plain
    mean); for each class in order, try its ``K`` candidates with the other classes
    fixed and move only on a strict improvement of the validation metric; repeat the
    sweep until nothing changes or ``max_rounds``. Ties between candidates are broken
    by a fixed preference order -- larger total weight first, then lexicographically
    larger -- so the plain mean wins ties and the result is deterministic.

    Parameters
    ----------
    val_probas : sequence of np.ndarray
        ``M`` aligned ``(N, C)`` float probability arrays; NaN rows = missing modality.
    val_labels : array-like
        ``(N,)`` int class ids in ``[0, C)``.
    grid : sequence of float
        Candidate weights, non-negative (default ``(0, 0.5, 1)`` as in Ouyang et al.).
    metric : {"accuracy", "uar"}
        Validation score to maximise.
    coverage : array-like, optional
        ``(M, C)`` bool coverage mask.
    exhaustive_limit : int
        Largest number of combinations searched exhaustively.
    max_rounds : int
        Maximum coordinate-ascent sweeps.

    Returns
    -------
    dict
        ``"weights"``: ``(M, C)`` float64; ``"score"``: validation score of the
        result; ``"baseline"``: score of the plain mean; ``"search"``:
        ``"exhaustive"`` or ``"coordinate"``; ``"rounds"``: sweeps done (0 when
        exhaustive); ``"metric"``; ``"n"``: validation samples used.

    Raises
    ------
    ValueError
        On bad inputs (see :func:`learn_fusion_weights`) or a grid without a positive
        value or with negative values.
    """
    p, y, cov, score = _prepare(val_probas, val_labels, coverage, metric)
    m, n, c = p.shape
    g = sorted({float(v) for v in grid}, reverse=True)
    if not g or g[-1] < 0 or g[0] <= 0 or not np.isfinite(g).all():
        raise ValueError(f"grid must hold non-negative weights, at least one positive, got {list(grid)}")
    if max_rounds < 1:
        raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")

    def candidates(col: int) -> list[tuple[float, ...]]:
        options = [g if cov[i, col] else [0.0] for i in range(m)]
        cands = {w for w in itertools.product(*options) if any(w)}
        if not cands:  # no modality covers the class: it cannot be predicted, weights are moot
            return [(0.0,) * m]
        return sorted(cands, key=lambda w: (-sum(w), tuple(-v for v in w)))  # preference order

    cands = [candidates(j) for j in range(c)]
    # Class j's fused column depends only on w[:, j]: precompute it for every candidate,
    # so a combination costs one argmax. Same arithmetic as _fuse, checked by the tests.
    a = ~np.isnan(p[:, :, :1]) & cov[:, None, :]  # (M, N, C) modality has a say
    vals = np.where(a, p, 0.0)
    cols, has = [], []
    for j in range(c):
        ww = np.array(cands[j])[:, :, None] * a[None, :, :, j]  # (K, M, N)
        den = ww.sum(1)
        num = (ww * vals[None, :, :, j]).sum(1)
        cols.append(np.divide(num, den, out=np.zeros_like(num), where=den > 0))
        has.append(den > 0)
    mean = _fuse(p, np.ones((m, c)), cov, normalize=False)  # _fuse's fallback for rows without weight

    def evaluate(ks) -> float:
        f = np.stack([cols[j][k] for j, k in enumerate(ks)], axis=1)
        dead = ~np.stack([has[j][k] for j, k in enumerate(ks)], axis=1).any(1)
        if dead.any():
            f[dead] = mean[dead]
        return round(score(y, f.argmax(1)), 12)

    def weights_of(ks) -> np.ndarray:
        return np.array([cands[j][k] for j, k in enumerate(ks)], dtype=np.float64).T

    # index of the all-ones (plain mean) candidate: first in preference order
    start = [0] * c
    baseline = evaluate(start)
    n_combos = int(np.prod([len(k) for k in cands], dtype=float))
    if n_combos <= exhaustive_limit:
        best_ks, best = start, baseline
        for ks in itertools.product(*[range(len(k)) for k in cands]):  # preference order: first wins ties
            sc = evaluate(ks)
            if sc > best:
                best_ks, best = list(ks), sc
        return {"weights": weights_of(best_ks), "score": best, "baseline": baseline, "search": "exhaustive",
                "rounds": 0, "metric": metric, "n": n}
    ks, best, rounds = list(start), baseline, 0
    for rounds in range(1, max_rounds + 1):
        changed = False
        for j in range(c):
            top_s, top = best, None
            for k in range(len(cands[j])):
                sc = evaluate(ks[:j] + [k] + ks[j + 1:])
                if sc > top_s:  # strict: keep the current weights, or the earlier candidate, on ties
                    top_s, top = sc, k
            if top is not None:
                ks[j], best, changed = top, top_s, True
        if not changed:
            break
    return {"weights": weights_of(ks), "score": best, "baseline": baseline, "search": "coordinate", "rounds": rounds,
            "metric": metric, "n": n}


# --------------------------------------------------------------------------- ensembles


def ensemble_modalities(
    seed_probas: Mapping[str, np.ndarray | Sequence[np.ndarray]],
    weights: Mapping[str, Sequence[float]] | None = None,
) -> dict[str, np.ndarray]:
    """Average each modality's runs over training seeds (before fusing the modalities).

    Parameters
    ----------
    seed_probas : dict
        ``{modality: (N, C_m) array}`` (one run, passed through) or ``{modality: list of
        (N, C_m) arrays}`` (one per seed).
    weights : dict, optional
        ``{modality: per-seed weights}`` for :func:`~affectkit.evaluation.protocols.ensemble`;
        default equal.

    Returns
    -------
    dict
        ``{modality: (N, C_m) float64}`` seed-averaged probabilities. A sample missing in
        a modality (NaN row) is NaN in every seed, so it stays NaN.

    Raises
    ------
    ValueError
        See :func:`~affectkit.evaluation.protocols.ensemble`.
    """
    out = {}
    for name, runs in seed_probas.items():
        if isinstance(runs, np.ndarray) and runs.ndim == 2 and (weights is None or name not in weights):
            out[name] = runs.astype(np.float64)  # a single run: nothing to average
            continue
        from affectkit.evaluation.protocols import ensemble  # lazy: that module imports torch

        out[name] = ensemble([runs] if isinstance(runs, np.ndarray) and runs.ndim == 2 else list(runs),
                             None if weights is None else weights.get(name))
    return out


# --------------------------------------------------------------------------- model


@dataclass
class LateFusion:
    """A saved-able late-fusion model: class mapping per modality plus fusion weights.

    Parameters
    ----------
    class_names : sequence of str
        Output classes, in column order (e.g. :data:`affectkit.expressions.EXPRESSIONS`).
    modality_classes : dict
        ``{modality: its class names in column order}``, e.g. ``{"face": EXPRESSIONS,
        "voice": emodb.class_names}``. The dict order is the modality order of
        ``weights``.
    mapping : dict, optional
        ``{modality: {source: target or None}}`` explicit merges (see :class:`ClassMap`).
    drop : dict, optional
        ``{modality: [source classes to drop]}``.
    on_missing : {"error", "zero", "renorm"}
        Rule for unmatched classes; ``"error"`` (default) makes construction fail with
        the unmatched names.
    method : {"mean", "weighted", "class_weights", "logistic"}
        Plain mean; :func:`learn_fusion_weights` grid (Vielzeuf et al. 2018);
        :func:`search_class_weights` (Ouyang et al. 2017); logistic stacker.
    metric : {"accuracy", "uar"}
        What :meth:`fit` maximises.
    weights : np.ndarray, optional
        ``(M,)`` or ``(M, C)``; set by :meth:`fit` (or by hand). None = equal.
    stacker : dict, optional
        Set by :meth:`fit` for ``method="logistic"``.
    fit_info : dict
        Validation scores etc. recorded by :meth:`fit`.

    Attributes
    ----------
    class_maps : dict of str to ClassMap
        Built at construction; raises ValueError for any unmatched class.
    """

    class_names: Sequence[str]
    modality_classes: Mapping[str, Sequence[str]]
    mapping: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    drop: Mapping[str, Sequence[str]] = field(default_factory=dict)
    on_missing: str = "error"
    method: str = "mean"
    metric: str = "accuracy"
    weights: np.ndarray | None = None
    stacker: dict | None = None
    fit_info: dict = field(default_factory=dict)
    class_maps: dict = field(init=False, repr=False)

    def __post_init__(self):
        self.class_names = _names(self.class_names, "class_names")
        if not self.modality_classes:
            raise ValueError("LateFusion needs at least one modality")
        if self.method not in FUSION_METHODS:
            raise ValueError(f"method must be one of {FUSION_METHODS}, got {self.method!r}")
        _scorer(self.metric)
        extra = sorted((set(self.mapping) | set(self.drop)) - set(self.modality_classes))
        if extra:
            raise ValueError(f"mapping/drop name unknown modalities {extra}; modalities: {list(self.modality_classes)}")
        self.modality_classes = {k: _names(v, f"classes of {k!r}") for k, v in self.modality_classes.items()}
        self.class_maps = {
            k: ClassMap.build(v, self.class_names, self.mapping.get(k), self.drop.get(k, ()), self.on_missing)
            for k, v in self.modality_classes.items()
        }
        if self.weights is not None:
            self.weights = _weights(self.weights, len(self.modalities), len(self.class_names))

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in weight order."""
        return tuple(self.modality_classes)

    @property
    def coverage(self) -> np.ndarray:
        """``(M, C)`` bool: which output classes each modality covers."""
        return np.stack([self.class_maps[k].coverage for k in self.modalities])

    def describe(self) -> list[str]:
        """The class rules of every modality, as lines (for logs and reports)."""
        return [f"{k}: {line}" for k in self.modalities for line in self.class_maps[k].describe()]

    def align(self, probas: Mapping[str, Any]) -> list[np.ndarray]:
        """Seed-average and class-align every modality's probabilities.

        Parameters
        ----------
        probas : dict
            ``{modality: (N, C_m) array or list of per-seed arrays}`` in each modality's
            own class order; NaN rows = missing for that sample. Every modality of the
            model must be present.

        Returns
        -------
        list of np.ndarray
            ``M`` arrays ``(N, C)`` float64 in :attr:`class_names` order.

        Raises
        ------
        ValueError
            If a modality is missing or unknown, or shapes/values are wrong.
        """
        if not isinstance(probas, Mapping):
            raise ValueError(f"probas must be a dict {{modality: array}} with keys {list(self.modalities)}")
        missing, extra = sorted(set(self.modalities) - set(probas)), sorted(set(probas) - set(self.modalities))
        if missing or extra:
            raise ValueError(
                f"probas must have exactly the modalities {list(self.modalities)}; missing {missing}, unknown {extra} "
                "(a modality absent for some samples is a NaN row, not a missing key)"
            )
        avg = ensemble_modalities({k: probas[k] for k in self.modalities})
        out = []
        for k in self.modalities:
            try:
                out.append(self.class_maps[k].apply(avg[k]))
            except ValueError as exc:
                raise ValueError(f"modality {k!r}: {exc}") from None
        if len({a.shape[0] for a in out}) != 1:
            raise ValueError(f"modalities have different numbers of samples: {[a.shape[0] for a in out]}")
        return out

    def fit(self, val_probas: Mapping[str, Any], val_labels, **kwargs) -> "LateFusion":
        """Choose the fusion weights on a validation set, according to :attr:`method`.

        Parameters
        ----------
        val_probas : dict
            As for :meth:`align`.
        val_labels : array-like
            ``(N,)`` int ids into :attr:`class_names`, or the class names themselves.
        **kwargs
            Passed to :func:`learn_fusion_weights` (``step``, ``C``) or
            :func:`search_class_weights` (``grid``, ``exhaustive_limit``, ...).

        Returns
        -------
        LateFusion
            ``self``, with :attr:`weights` / :attr:`stacker` and :attr:`fit_info`
            (validation ``score`` of the choice and ``baseline`` of the plain mean).

        Raises
        ------
        ValueError
            On bad inputs or labels.
        """
        p = self.align(val_probas)
        y = _labels(val_labels, len(p[0]), len(self.class_names), self.class_names)
        cov = self.coverage
        mean = fuse_mean(p, cov)
        seen = ~np.isnan(mean).all(1)  # samples with some modality, as the searches use
        base = float(_scorer(self.metric)(y[seen], mean[seen].argmax(1)))
        info: dict = {"metric": self.metric, "baseline": base, "n": int(seen.sum())}
        if self.method == "mean":
            self.weights, self.stacker, info["score"] = None, None, base
        elif self.method == "weighted":
            r = learn_fusion_weights(p, y, "grid", metric=self.metric, coverage=cov, **kwargs)
            self.weights, self.stacker = r["weights"], None
            info.update(score=r["score"], candidates=r["candidates"])
        elif self.method == "class_weights":
            r = search_class_weights(p, y, metric=self.metric, coverage=cov, **kwargs)
            self.weights, self.stacker = r["weights"], None
            info.update(score=r["score"], search=r["search"], rounds=r["rounds"])
        else:
            r = learn_fusion_weights(p, y, "logistic", metric=self.metric, coverage=cov, **kwargs)
            self.weights, self.stacker = None, r["stacker"]
            info.update(score=r["score"])
        self.fit_info = info
        return self

    def predict_proba(self, probas: Mapping[str, Any]) -> np.ndarray:
        """Fused class probabilities.

        Parameters
        ----------
        probas : dict
            ``{modality: (N, C_m) array or list of per-seed arrays}`` (see :meth:`align`).

        Returns
        -------
        np.ndarray
            ``(N, C)`` float64 rows summing to 1, in :attr:`class_names` order; NaN rows
            where every modality is missing.

        Raises
        ------
        ValueError
            On bad inputs, or ``method="logistic"`` before :meth:`fit`.
        """
        p = self.align(probas)
        cov = self.coverage
        if self.method == "logistic":
            if self.stacker is None:
                raise ValueError("method='logistic' needs fit() (or a saved stacker) before predict_proba")
            return stacker_predict_proba(np.stack(p), self.stacker, cov)
        w = np.ones((len(p), len(self.class_names))) if self.weights is None else self.weights
        return fuse_weighted(p, w, cov)

    def predict(self, probas: Mapping[str, Any]) -> np.ndarray:
        """``(N,)`` int64 class ids (argmax of :meth:`predict_proba`); -1 where no modality."""
        q = self.predict_proba(probas)
        missing = np.isnan(q).all(1)
        return np.where(missing, -1, np.nan_to_num(q, nan=0.0).argmax(1)).astype(np.int64)

    def to_dict(self) -> dict:
        """JSON-able dict (plain lists, str, float); :meth:`from_dict` restores the model."""
        return {
            "format": "affectkit.late_fusion/1",
            "class_names": list(self.class_names),
            "modality_classes": {k: list(v) for k, v in self.modality_classes.items()},
            "mapping": {k: dict(v) for k, v in self.mapping.items()},
            "drop": {k: list(v) for k, v in self.drop.items()},
            "on_missing": self.on_missing,
            "method": self.method,
            "metric": self.metric,
            "weights": None if self.weights is None else np.asarray(self.weights).tolist(),
            "stacker": self.stacker,
            "fit_info": _jsonable(self.fit_info),
            "rules": self.describe(),  # for people reading the file; ignored on load
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "LateFusion":
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If the format tag is unknown or the content is inconsistent.
        """
        if d.get("format") != "affectkit.late_fusion/1":
            raise ValueError(f"not an affectkit late-fusion model (format {d.get('format')!r})")
        with warnings.catch_warnings():  # lenient on_missing warned when the model was made
            warnings.simplefilter("ignore")
            return cls(
                class_names=d["class_names"],
                modality_classes=d["modality_classes"],
                mapping=d.get("mapping", {}),
                drop=d.get("drop", {}),
                on_missing=d.get("on_missing", "error"),
                method=d.get("method", "mean"),
                metric=d.get("metric", "accuracy"),
                weights=None if d.get("weights") is None else np.asarray(d["weights"], dtype=np.float64),
                stacker=d.get("stacker"),
                fit_info=dict(d.get("fit_info") or {}),
            )

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_dict` as JSON, atomically (temporary file + rename)."""
        from affectkit.io.write import atomic_path

        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LateFusion":
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a late-fusion model.
        """
        return cls.from_dict(json.loads(Path(path).read_text()))


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x
