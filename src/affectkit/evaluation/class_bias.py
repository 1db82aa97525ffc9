"""Post-hoc class biases: per-class offsets on the logits, fitted on validation data.

A network trained on imbalanced data (FER-2013: 1.5 % disgust, 14 % fear) under-predicts
its rare classes; adding a per-class offset to the logits moves the decision
boundaries without retraining. Menon et al. 2021 ("Long-tail learning via logit
adjustment", ICLR) set the offset to ``-tau * log prior``; here each class's offset is
fitted on validation data instead (threshold moving, Provost 2000; Collell et al. 2018),
to raise the unweighted average recall (UAR) while bounding what accuracy may lose.

Adding ``b`` to the logits of a network whose expression head is linear is the same as
adding ``b`` to that head's bias, so a fitted bias ships inside the model's weights.
"""

from __future__ import annotations

import numpy as np


OBJECTIVES = ("uar", "min_recall")


def _scores(logp: np.ndarray, labels: np.ndarray, bias: np.ndarray, n_classes: int,
            objective: str = "uar") -> tuple[float, float]:
    pred = (logp + bias).argmax(1)
    recall = np.array([(pred[labels == c] == c).mean() for c in range(n_classes) if (labels == c).any()])
    # min_recall: the weakest class first, UAR as a tie-break.
    value = recall.mean() if objective == "uar" else recall.min() + 1e-3 * recall.mean()
    return float((pred == labels).mean()), float(value)


def fit_class_bias(probs: np.ndarray, labels: np.ndarray, *, objective: str = "uar", max_accuracy_drop: float = 0.01,
                   span: float = 2.0, step: float = 0.05, rounds: int = 3) -> np.ndarray:
    """Per-class logit offsets that maximise UAR (or the lowest class recall), with accuracy at most ``max_accuracy_drop`` lower.

    Coordinate ascent over a grid: each class's offset in turn is set to the grid value
    that gives the best objective among those keeping accuracy within the bound, for
    ``rounds`` passes. The last class's offset stays 0 (softmax ignores a common shift).

    Parameters
    ----------
    probs : np.ndarray
        ``(N, C)`` class probabilities (rows sum to 1), e.g. after test-time augmentation.
    labels : np.ndarray
        ``(N,)`` integer labels in ``[0, C)``; negative labels are ignored.
    objective : {"uar", "min_recall"}
        What to raise: the mean of the class recalls, or the lowest one (UAR breaking ties).
    max_accuracy_drop : float
        Largest accuracy loss allowed, as a fraction (0.01 = one point).
    span, step : float
        The grid: offsets from ``-span`` to ``span`` in steps of ``step`` (log-probability units).
    rounds : int
        Passes over the classes.

    Returns
    -------
    np.ndarray
        ``(C,)`` ``float32`` offsets to add to the logits (or log-probabilities).

    Raises
    ------
    ValueError
        If the shapes disagree, no label is valid, or a parameter is out of range.
    """
    probs = np.asarray(probs, np.float64)
    labels = np.asarray(labels)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        raise ValueError(f"probs must be (N, C) and labels (N,), got {probs.shape} and {labels.shape}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    if not (0 <= max_accuracy_drop < 1 and span > 0 and 0 < step <= span and rounds >= 1):
        raise ValueError("max_accuracy_drop must be in [0, 1), span > 0, 0 < step <= span, rounds >= 1")
    keep = labels >= 0
    if not keep.any():
        raise ValueError("no valid label to fit class biases on")
    logp, labels = np.log(np.clip(probs[keep], 1e-12, 1.0)), labels[keep].astype(np.int64)
    n_classes = probs.shape[1]
    bias = np.zeros(n_classes)
    floor = _scores(logp, labels, bias, n_classes)[0] - max_accuracy_drop
    grid = np.round(np.arange(-span, span + step / 2, step), 6)
    for _ in range(rounds):
        for c in range(n_classes - 1):
            best, best_value = bias[c], _scores(logp, labels, bias, n_classes, objective)[1]
            for v in grid:
                trial = bias.copy()
                trial[c] = v
                acc, value = _scores(logp, labels, trial, n_classes, objective)
                if acc >= floor - 1e-12 and value > best_value + 1e-12:
                    best, best_value = v, value
            bias[c] = best
    return bias.astype(np.float32)


def cross_fitted_predictions(probs: np.ndarray, labels: np.ndarray, folds: np.ndarray, **fit) -> np.ndarray:
    """Predictions of each fold under class biases fitted on the other folds (an honest estimate).

    Parameters
    ----------
    probs : np.ndarray
        ``(N, C)`` class probabilities.
    labels : np.ndarray
        ``(N,)`` integer labels.
    folds : np.ndarray
        ``(N,)`` fold index of each row (at least two distinct values).
    **fit
        Passed to :func:`fit_class_bias`.

    Returns
    -------
    np.ndarray
        ``(N,)`` ``int64`` predicted classes.

    Raises
    ------
    ValueError
        If there are fewer than two folds, or as :func:`fit_class_bias`.
    """
    folds = np.asarray(folds)
    if len(np.unique(folds)) < 2:
        raise ValueError("cross-fitting needs at least two folds")
    logp = np.log(np.clip(np.asarray(probs, np.float64), 1e-12, 1.0))
    pred = np.empty(len(logp), np.int64)
    for f in np.unique(folds):
        bias = fit_class_bias(probs[folds != f], labels[folds != f], **fit)
        pred[folds == f] = (logp[folds == f] + bias).argmax(1)
    return pred
