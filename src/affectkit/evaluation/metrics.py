"""Classification and valence/arousal metrics, computed with torchmetrics / scikit-learn.

CCC is Lin's concordance correlation coefficient (Lin 1989), the standard score for
continuous valence/arousal (AVEC, AFEW-VA, Jin et al.).
"""

from __future__ import annotations

import numpy as np
import torch


def ccc(pred: np.ndarray | torch.Tensor, target: np.ndarray | torch.Tensor) -> float:
    """Concordance correlation coefficient between two 1-D series.

    Parameters
    ----------
    pred, target : array-like
        ``(N,)`` floats (e.g. valence in [-1, 1]).

    Returns
    -------
    float
        CCC in [-1, 1], from torchmetrics (sample moments, n - 1).

    Raises
    ------
    ValueError
        If the shapes differ or fewer than two values are given.
    """
    from torchmetrics.functional.regression import concordance_corrcoef

    p = torch.as_tensor(np.asarray(pred), dtype=torch.float64).flatten()
    t = torch.as_tensor(np.asarray(target), dtype=torch.float64).flatten()
    if p.shape != t.shape or p.numel() < 2:
        raise ValueError(f"ccc needs two equal-length series of >= 2 values, got {tuple(p.shape)} and {tuple(t.shape)}")
    return float(concordance_corrcoef(p, t))


def ccc_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Differentiable ``1 - CCC`` per column, averaged.

    Parameters
    ----------
    pred, target : torch.Tensor
        ``(B, K)`` float; CCC is taken over the batch for each of the ``K`` columns.
    """
    pm, tm = pred.mean(0), target.mean(0)
    pv, tv = pred.var(0, unbiased=False), target.var(0, unbiased=False)
    cov = ((pred - pm) * (target - tm)).mean(0)
    return (1 - 2 * cov / (pv + tv + (pm - tm) ** 2 + eps)).mean()


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, per-class recall, UAR and the confusion matrix.

    Parameters
    ----------
    y_true, y_pred : np.ndarray
        ``(N,)`` integer class ids in ``[0, n_classes)``.

    Returns
    -------
    dict
        ``accuracy`` (float), ``recall`` (list of ``n_classes`` floats; NaN where a
        class has no samples), ``uar`` (mean of the defined recalls), ``confusion``
        (``n_classes x n_classes`` list, rows = true class), ``n`` (int).
    """
    from sklearn.metrics import confusion_matrix

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    cm = confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))
    support = cm.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(support > 0, np.diag(cm) / support, np.nan)
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else float("nan"),
        "recall": [float(r) for r in recall],
        "uar": float(np.nanmean(recall)),
        "confusion": cm.tolist(),
    }
