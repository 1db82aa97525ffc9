"""Evaluate exported models on a labelled face dataset: per model, mean ± std over the
models (e.g. seeds), and their ensemble.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.data.faceset import FaceSet


def evaluate_models(models: Sequence[str | Path], faces: FaceSet, *, tta: str = "flip", batch_size: int = 128,
                    target_distribution: Sequence[float] | None = None) -> dict:
    """Score one or more exported models on ``faces``.

    Parameters
    ----------
    models : sequence of str or Path
        Bundled model names or ``.safetensors`` files with their cards.
    faces : FaceSet
        Faces with expression labels and/or valence/arousal.
    tta : {"none", "flip", "multi"}
        Test-time augmentation (see :class:`~affectkit.models.recognizer.Recognizer`).
    target_distribution : sequence of 7 floats, optional
        Class distribution of the target population, for the weighted accuracy of
        Vielzeuf et al. 2018 (sum over classes of its share times the class recall).

    Returns
    -------
    dict
        ``models``: one report per model (classification report on labelled faces,
        ``valence``/``arousal`` regression reports on faces with valence/arousal);
        ``summary``: mean ± std over the models; ``ensemble``: the report of the
        models' mean probabilities and valence/arousal (two or more models);
        ``pooled``: the headline (the ensemble, or the single model's report);
        ``data``: the face set's provenance.

    Raises
    ------
    WeightsError
        A model file or its card is missing or does not fit.
    ValueError
        If ``faces`` is empty or has no labels at all, or ``target_distribution`` is
        not a distribution over the seven classes.
    """
    from affectkit.evaluation.protocols import ensemble, summarize_seeds
    from affectkit.models.recognizer import Recognizer
    from affectkit.training.experiment import score

    if len(faces) == 0:
        raise ValueError("no faces to evaluate on")
    if not (faces.has_labels or faces.has_va):
        raise ValueError("the evaluation set has neither expression labels nor valence/arousal")
    dist = None if target_distribution is None else np.asarray(target_distribution, dtype=np.float64)
    reports, outputs = [], []
    for model in models:
        proba, va = Recognizer(model, tta=tta, batch_size=batch_size).predict_arrays(faces.images)
        outputs.append({"proba": proba, "va": va})
        reports.append({"model": str(model), **score(outputs[-1], faces, dist)})
    result = {"models": reports, "data": faces.meta, "tta": tta,
              "summary": summarize_seeds([{k: v for k, v in r.items() if k != "model"} for r in reports])}
    if len(outputs) > 1:
        result["ensemble"] = score(
            {"proba": ensemble([o["proba"] for o in outputs]), "va": np.mean([o["va"] for o in outputs], 0)}, faces, dist
        )
    result["pooled"] = result.get("ensemble") or reports[0]
    return result
