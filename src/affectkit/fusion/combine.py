"""Late fusion of class scores that are already aligned to one class list.

For every class the fused score is the weighted mean over the modalities that *cover*
that class and are *available* for the sample::

    fused[n, c] = sum_m w[m, c] a[m, n, c] p[m, n, c] / sum_m w[m, c] a[m, n, c]

with ``a[m, n, c] = coverage[m, c] and (row n of modality m is not NaN)``, so a
modality is never punished for a class it has no column for (fused *surprise* comes
from the face alone), and a sample whose face or audio is missing (NaN row) is scored
from the modality it has. Rows are then renormalised to sum to 1.

:func:`fuse_mean` (all weights 1) is what ``analyze --audio`` uses for its ``fused_*``
columns (:mod:`affectkit.audio.voice`); :func:`fuse_weighted` takes weights, e.g. the
ones :mod:`affectkit.fusion.learn` chooses. :func:`ensemble_modalities` averages each
modality's runs over training seeds before fusion.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from affectkit.fusion.classes import _check_proba


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
