"""Classification and valence/arousal metrics, computed with torchmetrics / scikit-learn
where those libraries have them.

Continuous (valence/arousal) scores, all for a prediction ``x`` and a target ``y``:

* CCC, Lin's concordance correlation coefficient (Lin 1989), the standard score for
  continuous valence/arousal (AVEC, AFEW-VA, Jin et al.);
* PCC, Pearson's correlation; RMSE and MSE;
* ``icc_ulloa``, the "ICC" of Ulloa et al. (2019), ``2 cov(x, y) / (var x + var y)``;
* ``icc_3_1``, Shrout & Fleiss (1979) ICC(3,1) with ``x`` and ``y`` as two raters
  (for two raters it equals ``icc_ulloa``);
* SAGR, sign agreement (Nicolaou et al. 2011).

Classification: accuracy, per-class recall, UAR (unweighted average recall), macro-F1
and the weighted accuracy of Vielzeuf et al. (2018).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

REGRESSION_METRICS = ("ccc", "pcc", "rmse", "mse", "icc_ulloa", "icc_3_1", "sagr")
"""Per-column keys of :func:`regression_report`."""


def _pair(pred, target, min_n: int = 2, what: str = "metric") -> tuple[np.ndarray, np.ndarray]:
    """Two equal-shape array-likes as flat float64 arrays of at least ``min_n`` values."""
    p = np.asarray(pred.detach().cpu() if isinstance(pred, torch.Tensor) else pred, dtype=np.float64)
    t = np.asarray(target.detach().cpu() if isinstance(target, torch.Tensor) else target, dtype=np.float64)
    if p.shape != t.shape or p.size < min_n:
        raise ValueError(
            f"{what} needs two equal-length series of >= {min_n} values, got shapes {p.shape} and {t.shape}"
        )
    return p.ravel(), t.ravel()


def ccc(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Concordance correlation coefficient between two 1-D series (Lin 1989).

    ``CCC = 2 cov(x, y) / (var x + var y + (mean x - mean y)^2)`` with sample (n - 1)
    moments, as in torchmetrics' ``concordance_corrcoef``. Computed directly because
    torchmetrics returns NaN when one series is constant, where Lin's formula gives 0
    (a model that always predicts the same value must score 0, not be skipped).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats (e.g. valence in [-1, 1]); equal shapes of any rank are flattened.

    Returns
    -------
    float
        CCC in [-1, 1]; NaN only if both series are the same constant.

    Raises
    ------
    ValueError
        If the shapes differ or fewer than two values are given.
    """
    p, t = _pair(pred, target, what="ccc")
    cov = np.cov(p, t, ddof=1)
    denom = cov[0, 0] + cov[1, 1] + (p.mean() - t.mean()) ** 2
    return float(2 * cov[0, 1] / denom) if denom > 0 else float("nan")


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Differentiable ``1 - CCC`` per column, averaged (Lin 1989).

    Parameters
    ----------
    pred, target : torch.Tensor
        ``(B, K)`` float; CCC is taken over the batch for each of the ``K`` columns.

    Returns
    -------
    torch.Tensor
        Scalar loss in [0, 2].
    """
    pm, tm = pred.mean(0), target.mean(0)
    pv, tv = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - pm) * (target - tm)).mean(0)
    return (1 - 2 * cov / (pv + tv + (pm - tm) ** 2 + eps)).mean()


def pcc(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Pearson correlation coefficient (torchmetrics ``pearson_corrcoef``).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats.

    Returns
    -------
    float
        PCC in [-1, 1]; NaN if either series is constant. Invariant to positive scaling
        and shifts of either series (unlike CCC).

    Raises
    ------
    ValueError
        If the shapes differ or fewer than two values are given.
    """
    from torchmetrics.functional.regression import pearson_corrcoef

    p, t = _pair(pred, target, what="pcc")
    if p.std() == 0 or t.std() == 0:
        return float("nan")
    return float(pearson_corrcoef(torch.from_numpy(p), torch.from_numpy(t)))


def mse(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Mean squared error (scikit-learn ``mean_squared_error``).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats, ``N >= 1``.

    Returns
    -------
    float
        MSE >= 0 (in [0, 4] for values in [-1, 1]).

    Raises
    ------
    ValueError
        If the shapes differ or no values are given.
    """
    from sklearn.metrics import mean_squared_error

    p, t = _pair(pred, target, min_n=1, what="mse")
    return float(mean_squared_error(t, p))


def rmse(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Root mean squared error (scikit-learn ``root_mean_squared_error``).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats, ``N >= 1``.

    Returns
    -------
    float
        RMSE >= 0 (in [0, 2] for values in [-1, 1]).

    Raises
    ------
    ValueError
        If the shapes differ or no values are given.
    """
    from sklearn.metrics import root_mean_squared_error

    p, t = _pair(pred, target, min_n=1, what="rmse")
    return float(root_mean_squared_error(t, p))


def icc_ulloa(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """The "ICC" of Ulloa et al. (2019): ``2 cov(x, y) / (var x + var y)``.

    This is CCC without the mean-difference term, i.e. it ignores a constant bias. The
    n vs n - 1 normalisation cancels. For two series it equals Shrout & Fleiss ICC(3,1)
    (:func:`icc_3_1`).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats.

    Returns
    -------
    float
        Value in [-1, 1]; NaN if both series are constant.

    Raises
    ------
    ValueError
        If the shapes differ or fewer than two values are given.
    """
    p, t = _pair(pred, target, what="icc_ulloa")
    cov = np.cov(p, t, ddof=1)
    denom = cov[0, 0] + cov[1, 1]
    return float(2 * cov[0, 1] / denom) if denom > 0 else float("nan")


def icc_3_1(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Shrout & Fleiss (1979) ICC(3,1): two-way mixed, consistency, single rater.

    The ``N`` items are the targets of rating and ``pred`` and ``target`` are the two
    (``k = 2``) raters. From the two-way ANOVA of the ``(N, k)`` table,
    ``ICC(3,1) = (BMS - EMS) / (BMS + (k - 1) EMS)`` with ``BMS`` the between-items
    mean square and ``EMS`` the residual mean square (rater effect removed).

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats.

    Returns
    -------
    float
        Value in [-1, 1] for two raters; NaN if both mean squares are 0.

    Raises
    ------
    ValueError
        If the shapes differ or fewer than two values are given.
    """
    p, t = _pair(pred, target, what="icc_3_1")
    y = np.stack([p, t], axis=1)
    n, k = y.shape
    grand = y.mean()
    ss_rows = k * ((y.mean(1) - grand) ** 2).sum()
    ss_cols = n * ((y.mean(0) - grand) ** 2).sum()
    ss_err = ((y - grand) ** 2).sum() - ss_rows - ss_cols
    bms, ems = ss_rows / (n - 1), ss_err / ((n - 1) * (k - 1))
    denom = bms + (k - 1) * ems
    return float((bms - ems) / denom) if denom > 0 else float("nan")


def sagr(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Sign agreement (SAGR, Nicolaou et al. 2011): fraction of items with equal signs.

    Signs are ``np.sign``, so 0 has its own sign: a 0 agrees only with a 0, and a
    prediction of exactly 0 for a non-zero target counts as a disagreement.

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats (valence/arousal in [-1, 1]), ``N >= 1``.

    Returns
    -------
    float
        SAGR in [0, 1].

    Raises
    ------
    ValueError
        If the shapes differ or no values are given.
    """
    p, t = _pair(pred, target, min_n=1, what="sagr")
    return float((np.sign(p) == np.sign(t)).mean())


def regression_report(
    pred: np.ndarray | torch.Tensor,
    target: np.ndarray | torch.Tensor,
    names: Sequence[str] = ("valence", "arousal"),
) -> dict:
    """All continuous metrics for each column of a valence/arousal prediction.

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` or ``(N, K)`` floats (valence/arousal in [-1, 1]).
    names : sequence of str
        Column names; the first ``K`` are used (so a ``(N,)`` input is "valence" by
        default).

    Returns
    -------
    dict
        ``{name: {"ccc", "pcc", "rmse", "mse", "icc_ulloa", "icc_3_1", "sagr"}}`` (floats,
        see the single-metric functions), plus ``"n"`` (int, ``N``) and ``"mean_ccc"``
        (CCC averaged over the columns).

    Raises
    ------
    ValueError
        If the shapes differ, are not 1-D/2-D, ``N < 2``, or there are fewer names than
        columns.
    """
    p, t = (np.asarray(a.detach().cpu() if isinstance(a, torch.Tensor) else a, dtype=np.float64)
            for a in (pred, target))
    if p.shape != t.shape or p.ndim not in (1, 2) or p.shape[0] < 2:
        raise ValueError(
            f"regression_report needs equal (N,) or (N, K) arrays with N >= 2, got {p.shape} and {t.shape}"
        )
    p, t = p.reshape(len(p), -1), t.reshape(len(t), -1)
    if len(names) < p.shape[1]:
        raise ValueError(f"regression_report got {p.shape[1]} columns but only names {tuple(names)}")
    fns = {"ccc": ccc, "pcc": pcc, "rmse": rmse, "mse": mse, "icc_ulloa": icc_ulloa, "icc_3_1": icc_3_1, "sagr": sagr}
    out: dict = {"n": int(len(p))}
    for k, name in enumerate(names[: p.shape[1]]):
        out[name] = {key: fn(p[:, k], t[:, k]) for key, fn in fns.items()}
    out["mean_ccc"] = float(np.mean([out[name]["ccc"] for name in names[: p.shape[1]]]))
    return out


def sequence_ccc(preds: Sequence, targets: Sequence) -> float:
    """CCC computed per sequence (video) and averaged over sequences (Lin 1989).

    Sequences with fewer than two values are skipped, as are sequences whose CCC is
    undefined (both series the same constant).

    Parameters
    ----------
    preds, targets : sequence of array-like
        Matching lists of ``(T_i,)`` float series (e.g. per-frame valence in [-1, 1]).

    Returns
    -------
    float
        Mean per-sequence CCC in [-1, 1]; NaN if no sequence could be scored.

    Raises
    ------
    ValueError
        If the lists differ in length or a pair of sequences differs in shape.
    """
    if len(preds) != len(targets):
        raise ValueError(f"sequence_ccc got {len(preds)} predicted and {len(targets)} target sequences")
    scores = []
    for p, t in zip(preds, targets):
        p, t = _pair(p, t, min_n=0, what="sequence_ccc")
        if p.size >= 2:
            scores.append(ccc(p, t))
    scores = [s for s in scores if not np.isnan(s)]
    return float(np.mean(scores)) if scores else float("nan")


def classification_report(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    n_classes: int,
    *,
    class_names: Sequence[str] | None = None,
    target_distribution: Sequence[float] | np.ndarray | None = None,
) -> dict:
    """Accuracy, per-class recall, UAR, macro-F1, weighted accuracy and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : np.ndarray
        ``(N,)`` integer class ids in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    class_names : sequence of str, optional
        ``n_classes`` names, copied into the report.
    target_distribution : array-like, optional
        ``(n_classes,)`` non-negative class probabilities summing to 1, for the weighted
        accuracy of Vielzeuf et al. (2018): ``sum_c p_c * recall_c``, the accuracy
        expected on a test set with class distribution ``p`` (e.g. EmotiW's).

    Returns
    -------
    dict
        ``n`` (int), ``accuracy`` (float in [0, 1]), ``recall`` (list of ``n_classes``
        floats; NaN where a class has no samples), ``uar`` (mean of the defined recalls),
        ``macro_f1`` (scikit-learn macro F1 over the classes present in
        ``y_true`` or ``y_pred``; classes absent from both are left out, a class never
        predicted scores F1 = 0), ``weighted_accuracy`` (float, NaN if a class with
        ``p_c > 0`` has no samples; None without ``target_distribution``), ``confusion``
        (``n_classes x n_classes`` list, rows = true class) and ``class_names`` (list, if
        given).

    Raises
    ------
    ValueError
        If ``class_names`` or ``target_distribution`` has the wrong length, or the
        distribution is negative or does not sum to 1.
    """
    from sklearn.metrics import confusion_matrix, f1_score

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(cm) / support, np.nan)
    present = sorted(set(y_true.tolist()) | set(y_pred.tolist()))
    out = {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "recall": [float(r) for r in recall],
        "uar": float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan"),
        "macro_f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0))
        if len(y_true)
        else float("nan"),
        "weighted_accuracy": None,
        "confusion": cm.tolist(),
    }
    if target_distribution is not None:
        p = np.asarray(target_distribution, dtype=np.float64)
        if p.shape != (n_classes,) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
            raise ValueError(
                f"target_distribution must be {n_classes} non-negative values summing to 1, got {p.tolist()}"
            )
        used = p > 0
        out["weighted_accuracy"] = float((p[used] * recall[used]).sum())
    if class_names is not None:
        if len(class_names) != n_classes:
            raise ValueError(f"class_names has {len(class_names)} entries for {n_classes} classes")
        out["class_names"] = list(class_names)
    return out
