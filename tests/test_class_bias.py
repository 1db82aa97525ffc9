"""Post-hoc class biases fitted on validation data (affectkit.evaluation.class_bias)."""

from __future__ import annotations

import numpy as np
import pytest

from affectkit.evaluation.class_bias import cross_fitted_predictions, fit_class_bias


def _under_predicted(n: int = 3000, seed: int = 0):
    """Three classes; class 2 is rare and its logit is pushed down, as a network trained on imbalance does."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(3, n, p=[0.5, 0.4, 0.1])
    logits = rng.normal(0, 1, (n, 3))
    logits[np.arange(n), labels] += 2.0
    logits[:, 2] -= 1.5
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    return probs, labels


def _scores(probs, labels, bias=0.0):
    pred = (np.log(probs) + bias).argmax(1)
    return (pred == labels).mean(), np.mean([(pred[labels == c] == c).mean() for c in range(probs.shape[1])])


def test_bias_raises_uar_within_the_accuracy_bound():
    probs, labels = _under_predicted()
    acc0, uar0 = _scores(probs, labels)
    bias = fit_class_bias(probs, labels, max_accuracy_drop=0.01)
    acc, uar = _scores(probs, labels, bias)
    assert bias.shape == (3,) and bias.dtype == np.float32 and bias[-1] == 0
    assert bias[2] - bias[0] > 0.3  # the rare class is pushed up
    assert uar > uar0 + 0.05 and acc >= acc0 - 0.01 - 1e-9


def test_no_accuracy_loss_allowed_keeps_accuracy():
    probs, labels = _under_predicted(seed=1)
    acc0, _ = _scores(probs, labels)
    acc, _ = _scores(probs, labels, fit_class_bias(probs, labels, max_accuracy_drop=0.0))
    assert acc >= acc0 - 1e-9


def test_cross_fitted_predictions_generalise():
    probs, labels = _under_predicted(6000, seed=2)
    folds = np.arange(len(labels)) % 2
    pred = cross_fitted_predictions(probs, labels, folds, max_accuracy_drop=0.01)
    uar = np.mean([(pred[labels == c] == c).mean() for c in range(3)])
    assert pred.shape == labels.shape and uar > _scores(probs, labels)[1] + 0.05


def test_bad_arguments():
    probs, labels = _under_predicted(100)
    with pytest.raises(ValueError, match="must be"):
        fit_class_bias(probs, labels[:50])
    with pytest.raises(ValueError, match="no valid label"):
        fit_class_bias(probs, -np.ones(100, int))
    with pytest.raises(ValueError, match="two folds"):
        cross_fitted_predictions(probs, labels, np.zeros(100))


def test_min_recall_objective_lifts_the_weakest_class():
    probs, labels = _under_predicted(seed=3)
    pred0 = probs.argmax(1)
    weakest0 = min((pred0[labels == c] == c).mean() for c in range(3))
    bias = fit_class_bias(probs, labels, objective="min_recall", max_accuracy_drop=0.02)
    pred = (np.log(probs) + bias).argmax(1)
    assert min((pred[labels == c] == c).mean() for c in range(3)) > weakest0 + 0.1
    with pytest.raises(ValueError, match="objective"):
        fit_class_bias(probs, labels, objective="accuracy")
