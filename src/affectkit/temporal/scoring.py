"""Scores of a temporal model's predictions against a sequence set's labels.

Used both to pick the best epoch during training (:mod:`affectkit.temporal.trainer`)
and to evaluate saved models (:mod:`affectkit.temporal.evaluate`), so it depends on
neither.
"""

from __future__ import annotations

import warnings

import numpy as np

from affectkit.evaluation.metrics import ccc, classification_report, regression_report
from affectkit.temporal.sequences import SequenceSet


def _dimension_scores(steps: list[np.ndarray], targets: list[np.ndarray], k: int, name: str) -> dict | None:
    """Per-sequence CCC and the pooled regression metrics of one dimension's rated steps."""
    per_seq, pooled_p, pooled_t = [], [], []
    for p, t in zip(steps, targets):
        ok = np.isfinite(t[:, k])
        pooled_p.append(p[ok, k])
        pooled_t.append(t[ok, k])
        if ok.sum() >= 2:
            per_seq.append(ccc(p[ok, k], t[ok, k]))
    p, t = np.concatenate(pooled_p), np.concatenate(pooled_t)
    if len(t) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant series: CCC/PCC undefined (NaN)
        pooled = regression_report(p, t, names=(name,))[name]
    finite = [s for s in per_seq if np.isfinite(s)]
    return {"sequence_ccc": float(np.mean(finite)) if finite else float("nan"), "n_sequences": len(finite),
            **pooled, "n_steps": int(len(t))}


def score_sequences(pred: dict, seqs: SequenceSet, *, task: str) -> dict:
    """Score :func:`~affectkit.temporal.evaluate.predict_sequences` output against the labels of ``seqs``.

    Returns
    -------
    dict
        ``classes``: the :func:`~affectkit.evaluation.metrics.classification_report`
        of the labelled clips (``n``, ``accuracy``, ``uar``, ``confusion``...).
        ``va``: ``valence`` / ``arousal`` dicts with ``sequence_ccc`` (CCC per
        sequence, averaged; sequences with a constant rating and prediction are
        undefined and left out), the
        :func:`~affectkit.evaluation.metrics.regression_report` metrics (CCC, PCC,
        RMSE, ICC, SAGR...) pooled over all rated steps, and ``mean_sequence_ccc``.
        Always a ``score`` (float, higher is better) used to pick the best epoch: accuracy; or mean per-sequence CCC, else pooled CCC,
        else ``-RMSE`` when no CCC is defined (constant ratings).

    Raises
    ------
    ValueError
        If the data has no labels for ``task``.
    """
    if task == "classes":
        keep = np.flatnonzero(seqs.labels >= 0)
        if keep.size == 0:
            raise ValueError(f"{seqs.meta.get('root', 'data')}: no clip labels to score")
        rep = classification_report(seqs.labels[keep], pred["proba"][keep].argmax(1), len(seqs.class_names),
                                    class_names=list(seqs.class_names))
        rep["score"] = rep["accuracy"]
        return rep
    rep: dict = {}
    for k, name in enumerate(("valence", "arousal")):
        d = _dimension_scores(pred["steps"], seqs.va, k, name)
        if d is not None:
            rep[name] = d
    if not rep:
        raise ValueError(f"{seqs.meta.get('root', 'data')}: no valence/arousal ratings to score")
    dims = [rep[n] for n in ("valence", "arousal") if n in rep]
    seq = [d["sequence_ccc"] for d in dims if np.isfinite(d["sequence_ccc"])]
    pooled = [d["ccc"] for d in dims if np.isfinite(d["ccc"])]
    rep["mean_sequence_ccc"] = float(np.mean(seq)) if seq else float("nan")
    rep["score"] = rep["mean_sequence_ccc"] if seq else (float(np.mean(pooled)) if pooled else -float(np.mean([d["rmse"] for d in dims])))
    return rep


