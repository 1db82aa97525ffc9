"""Fusion weights learned on a validation set, and the saved late-fusion model.

.. warning::

   **Experimental.** No command reaches this module: ``analyze --audio`` fuses face
   and voice with the plain mean (:func:`affectkit.fusion.combine.fuse_mean`), and no
   paired audio-visual emotion corpus is available to the project, so the learning
   below is tested on generated score sets with known correct weights only. Use it
   from Python on your own paired validation scores; its interface may change.

* :func:`learn_fusion_weights`: one weight per modality, chosen on a validation set by
  an exhaustive search of a simplex grid (Vielzeuf et al. 2018), or a multinomial
  logistic-regression stacker on the log-probabilities.
* :func:`search_class_weights`: one weight per modality *and class* from ``{0, 0.5,
  1}``, chosen on a validation set (Ouyang et al. 2017).
* :class:`LateFusion` ties class maps (:mod:`affectkit.fusion.classes`), seed
  ensembles and fusion (:mod:`affectkit.fusion.combine`) together with these weights,
  and saves to / loads from JSON, so a fused model can live next to the face and voice
  model files.

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

from affectkit.errors import reject_unknown
from affectkit.fusion.classes import ClassMap, _names
from affectkit.fusion.combine import _coverage, _fuse, _stack, _weights, ensemble_modalities, fuse_mean, fuse_weighted
from affectkit.io.write import jsonable, write_json_atomic

METRICS = ("accuracy", "uar")
"""Validation metrics the weight searches maximise (UAR = unweighted average recall)."""

FUSION_METHODS = ("mean", "weighted", "class_weights", "logistic")
"""``LateFusion.method`` values."""

_LOG_FLOOR = 1e-6  # log-probability features of the stacker are clipped here (log 0 = -inf)


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


_SAVED_KEYS = ("format", "class_names", "modality_classes", "mapping", "drop", "on_missing", "method", "metric",
               "weights", "stacker", "fit_info", "rules")
"""The keys of a saved :class:`LateFusion` (``rules`` is for people and ignored on load)."""


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
            "fit_info": jsonable(self.fit_info),
            "rules": self.describe(),  # for people reading the file; ignored on load
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> "LateFusion":
        """Inverse of :meth:`to_dict`.

        Raises
        ------
        ValueError
            If the format tag is unknown or the content is inconsistent.
        OptionError
            For a key that :meth:`to_dict` does not write (a ``ValueError`` too).
        """
        if d.get("format") != "affectkit.late_fusion/1":
            raise ValueError(f"not an affectkit late-fusion model (format {d.get('format')!r})")
        reject_unknown(d, _SAVED_KEYS, "late-fusion model key")
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
        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "LateFusion":
        """Read a model written by :meth:`save`.

        Raises
        ------
        ValueError
            If the file is not a late-fusion model.
        """
        return cls.from_dict(json.loads(Path(path).read_text()))
