"""Temperature scaling of a classifier's probabilities, and the expected calibration error.

Temperature scaling (Guo, Pleiss, Sun & Weinberger 2017, "On calibration of modern
neural networks", ICML) divides a network's logits by one scalar ``T > 0`` before the
softmax. ``T`` is fitted by minimising the negative log-likelihood on held-out
predictions; it changes no argmax, so accuracy and UAR are untouched, only how
confident the probabilities are. ``T > 1`` softens over-confident outputs.

For affectkit's voice model the held-out predictions are the out-of-fold logits of a
leave-one-speaker-out run of the same training recipe
(:func:`affectkit.audio.experiment.loso_logits`); the fitted ``T`` is stored in the
model card under ``"calibration"`` (:func:`calibration_record`) and applied by
:class:`affectkit.audio.voice.VoiceTrack`.

The expected calibration error (ECE; Naeini, Cooper & Hauskrecht 2015, in the form of
Guo et al. 2017) is ``sum_b (n_b / N) |acc_b - conf_b|`` over ``M`` equal-width bins of
the top-1 probability: bin ``b`` holds the samples whose highest probability lies in
``(b / M, (b + 1) / M]``, ``acc_b`` is their accuracy and ``conf_b`` their mean top-1
probability. Guo et al. use ``M = 15``, the default here.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

ECE_BINS = 15
"""Equal-width confidence bins of the ECE (as Guo et al. 2017)."""

ECE_BINNING = "15 equal-width bins of the top-1 probability over (0, 1], bin b = (b/15, (b+1)/15]"
"""How the ECE is binned, in words (stored with the figures)."""


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(logits / temperature)``, computed stably.

    Parameters
    ----------
    logits : np.ndarray
        ``(N, C)`` float logits (or log-probabilities: a per-row constant cancels, so
        ``softmax(log p / T)`` is the temperature-scaled ``p``).
    temperature : float
        ``T > 0``.

    Returns
    -------
    np.ndarray
        ``(N, C)`` ``float64`` probabilities, rows summing to 1.

    Raises
    ------
    ValueError
        If ``temperature`` is not a finite positive number.
    """
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _check(logits: np.ndarray, labels: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(labels)
    if z.ndim != 2 or len(z) == 0 or len(y) != len(z):
        raise ValueError(f"need (N, C) logits with N >= 1 and N labels, got {z.shape} and {y.shape}")
    if not np.isfinite(z).all():
        raise ValueError("logits must be finite")
    if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= z.shape[1]:
        raise ValueError(f"labels must be class indices in [0, {z.shape[1]}), got {y[:5]!r}...")
    return z, y.astype(np.int64)


def nll(logits: np.ndarray, labels: Sequence[int], temperature: float = 1.0) -> float:
    """Mean negative log-likelihood, nats, of ``softmax(logits / T)`` at the true classes.

    Parameters
    ----------
    logits : np.ndarray
        ``(N, C)`` float.
    labels : sequence of int
        ``(N,)`` class indices.
    temperature : float
        ``T > 0``.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On shapes, non-finite logits, labels out of range or ``T <= 0``.
    """
    z, y = _check(logits, labels)
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    z = z / temperature
    m = z.max(axis=1)
    lse = m + np.log(np.exp(z - m[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def fit_temperature(logits: np.ndarray, labels: Sequence[int], bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature minimising the NLL of ``softmax(logits / T)`` (Guo et al. 2017).

    The NLL is convex in ``1 / T`` (a log-sum-exp of linear functions minus a linear
    one), so a bounded scalar search over ``1 / T`` finds the global minimum.

    Parameters
    ----------
    logits : np.ndarray
        ``(N, C)`` float held-out logits (never the training data's: a network's own
        training predictions are over-confident and give a ``T`` that is too small).
    labels : sequence of int
        ``(N,)`` true class indices.
    bounds : (float, float)
        Smallest and largest ``T`` searched.

    Returns
    -------
    float
        ``T`` in ``bounds``.

    Raises
    ------
    ValueError
        On shapes, non-finite logits, labels out of range, or bad bounds.
    """
    from scipy.optimize import minimize_scalar

    z, y = _check(logits, labels)
    lo, hi = bounds
    if not 0 < lo < hi < np.inf:
        raise ValueError(f"bounds must satisfy 0 < low < high < inf, got {bounds}")
    res = minimize_scalar(lambda beta: nll(z, y, 1.0 / beta), bounds=(1.0 / hi, 1.0 / lo), method="bounded",
                          options={"xatol": 1e-7})
    return float(1.0 / res.x)


def calibration_bins(proba: np.ndarray, labels: Sequence[int], n_bins: int = ECE_BINS) -> dict:
    """Reliability-diagram statistics per equal-width bin of the top-1 probability.

    Parameters
    ----------
    proba : np.ndarray
        ``(N, C)`` float probabilities.
    labels : sequence of int
        ``(N,)`` true class indices.
    n_bins : int
        ``M``; bin ``b`` is ``(b / M, (b + 1) / M]``.

    Returns
    -------
    dict
        ``edges`` (``M + 1`` floats), and per bin ``count`` (int), ``accuracy`` and
        ``confidence`` (floats, NaN for an empty bin).

    Raises
    ------
    ValueError
        On shapes or labels out of range, or ``n_bins < 1``.
    """
    p, y = _check(proba, labels)
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    conf = p.max(axis=1)
    correct = p.argmax(axis=1) == y
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins: conf in (edges[b], edges[b+1]] -> b; a top-1 probability is > 0
    idx = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        acc = np.bincount(idx, weights=correct, minlength=n_bins) / count
        mean_conf = np.bincount(idx, weights=conf, minlength=n_bins) / count
    return {"edges": edges.tolist(), "count": count.tolist(), "accuracy": acc.tolist(), "confidence": mean_conf.tolist()}


def expected_calibration_error(proba: np.ndarray, labels: Sequence[int], n_bins: int = ECE_BINS) -> float:
    """ECE over equal-width bins of the top-1 probability (Guo et al. 2017; :data:`ECE_BINNING`).

    Parameters
    ----------
    proba : np.ndarray
        ``(N, C)`` float probabilities.
    labels : sequence of int
        ``(N,)`` true class indices.
    n_bins : int
        Number of bins ``M`` (15 as Guo et al.).

    Returns
    -------
    float
        ``sum_b (n_b / N) |acc_b - conf_b|``, in ``[0, 1]``.

    Raises
    ------
    ValueError
        On shapes or labels out of range, or ``n_bins < 1``.
    """
    b = calibration_bins(proba, labels, n_bins)
    n = np.asarray(b["count"], dtype=np.float64)
    gap = np.abs(np.asarray(b["accuracy"]) - np.asarray(b["confidence"]))
    return float(np.sum(np.where(n > 0, n * np.nan_to_num(gap), 0.0)) / n.sum())


def calibration_record(logits: np.ndarray, labels: Sequence[int], groups: Sequence | None = None, *,
                       fitted_on: str = "", n_bins: int = ECE_BINS) -> dict:
    """Fit a temperature on held-out logits and describe the fit, for a model card.

    Parameters
    ----------
    logits : np.ndarray
        ``(N, C)`` float out-of-fold logits (e.g. leave-one-speaker-out).
    labels : sequence of int
        ``(N,)`` true class indices.
    groups : sequence, optional
        ``(N,)`` group (speaker) ids. When given, ``ece_after_held_out`` is also
        computed: each group's predictions are scaled by a temperature fitted on the
        other groups only, so no prediction is calibrated with its own label.
    fitted_on : str
        Description of where the logits come from.
    n_bins : int
        ECE bins.

    Returns
    -------
    dict
        ``method`` ("temperature"), ``temperature`` (``T``), ``fitted_on``, ``n``,
        ``ece_before``, ``ece_after`` (same predictions, ``T`` fitted on all of them),
        ``nll_before``, ``nll_after`` (nats), ``accuracy`` (unchanged by ``T``),
        ``ece_bins`` (:data:`ECE_BINNING` for 15 bins), ``reference``; with ``groups``
        also ``ece_after_held_out``, ``nll_after_held_out`` and ``temperature_per_group``
        (min, max of the per-group fits).

    Raises
    ------
    ValueError
        As :func:`fit_temperature`.
    """
    z, y = _check(logits, labels)
    t = fit_temperature(z, y)
    p0, p1 = softmax(z), softmax(z, t)
    rec = {
        "method": "temperature", "temperature": t, "fitted_on": fitted_on, "n": int(len(y)),
        "ece_before": expected_calibration_error(p0, y, n_bins), "ece_after": expected_calibration_error(p1, y, n_bins),
        "nll_before": nll(z, y), "nll_after": nll(z, y, t), "accuracy": float(np.mean(p0.argmax(1) == y)),
        "ece_bins": ECE_BINNING if n_bins == ECE_BINS else f"{n_bins} equal-width bins of the top-1 probability",
        "reference": "Guo et al. 2017, On calibration of modern neural networks (temperature scaling)",
    }
    if groups is not None:
        g = np.asarray(groups)
        if len(g) != len(y):
            raise ValueError(f"{len(g)} group ids for {len(y)} predictions")
        p_held = np.empty_like(p0)
        temps = []
        for grp in np.unique(g):
            m = g == grp
            tg = fit_temperature(z[~m], y[~m])
            temps.append(tg)
            p_held[m] = softmax(z[m], tg)
        rec["ece_after_held_out"] = expected_calibration_error(p_held, y, n_bins)
        rec["nll_after_held_out"] = float(-np.mean(np.log(np.maximum(p_held[np.arange(len(y)), y], 1e-300))))
        rec["temperature_per_group"] = [float(min(temps)), float(max(temps))]
    return rec
