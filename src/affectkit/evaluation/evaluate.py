"""Score face predictions, and evaluate exported face models on a labelled face dataset:
per model, mean ± std over the models (e.g. seeds), and their ensemble.

Evaluating saved models is the experiment runner (:func:`affectkit.evaluation.runner.run`)
under the ``split`` protocol with nothing to train: its ``fit_predict`` loads a model
instead of training one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.evaluation.metrics import classification_report, regression_report
from affectkit.evaluation.runner import Prediction, run
from affectkit.expressions import EXPRESSIONS
from affectkit.models.recognizer import Recognizer


def score_faces(out: dict, labels: np.ndarray, va: np.ndarray, target_distribution: np.ndarray | None = None) -> dict:
    """Score face predictions against the labels the faces have.

    Parameters
    ----------
    out : dict
        ``proba`` ``(N, 7)`` float or ``pred`` ``(N,)`` int for the seven expressions;
        ``va`` ``(N, 2)`` float in [-1, 1]. An output that is NaN everywhere (the head
        of a task the model was not trained for, see
        :class:`~affectkit.models.recognizer.Recognizer`) is not scored.
    labels : np.ndarray
        ``(N,)`` int64 expression ids, ``-1`` where a face has none.
    va : np.ndarray
        ``(N, 2)`` float valence/arousal, NaN where a face has none.
    target_distribution : np.ndarray, optional
        ``(7,)`` class distribution for the weighted accuracy of Vielzeuf et al. 2018.

    Returns
    -------
    dict
        A :func:`~affectkit.evaluation.metrics.classification_report` on the rows with
        an expression label, merged with a
        :func:`~affectkit.evaluation.metrics.regression_report` (``valence``/``arousal``)
        on the rows with valence/arousal (at least two); empty when neither applies.
    """
    rep: dict = {}
    labels, va = np.asarray(labels), np.asarray(va)
    lab = labels >= 0
    out = {k: v for k, v in out.items() if not (np.issubdtype(np.asarray(v).dtype, np.floating) and np.isnan(v).all())}
    pred = out["proba"].argmax(1) if "proba" in out else out.get("pred")
    if pred is not None and lab.any():
        rep.update(classification_report(labels[lab], np.asarray(pred)[lab], len(EXPRESSIONS),
                                         class_names=list(EXPRESSIONS), target_distribution=target_distribution))
    has_va = np.isfinite(va).all(1)
    if "va" in out and has_va.sum() >= 2:
        rep.update(regression_report(np.asarray(out["va"])[has_va], va[has_va]))
    return rep


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
        ``models``: one report per model (``model``: its name; classification report on
        labelled faces, ``valence``/``arousal`` regression reports on faces with
        valence/arousal, :func:`score_faces`); ``summary``: mean ± std over the models;
        ``ensemble``: the report of the models' mean probabilities and valence/arousal
        (two or more models); ``pooled``: the headline (the ensemble, or the single
        model's report); ``data``: the face set's provenance; ``tta``:
        :meth:`~affectkit.evaluation.runner.Report.to_dict` of the run.

    Raises
    ------
    WeightsError
        A model file or its card is missing or does not fit.
    ValueError
        If ``faces`` is empty or has no labels at all, or ``target_distribution`` is
        not a distribution over the seven classes.
    """
    if len(faces) == 0:
        raise ValueError("no faces to evaluate on")
    if not (faces.has_labels or faces.has_va):
        raise ValueError("the evaluation set has neither expression labels nor valence/arousal")
    dist = None if target_distribution is None else np.asarray(target_distribution, dtype=np.float64)

    def load_and_predict(train_idx: np.ndarray, test_idx: np.ndarray, model: str, fold: int) -> Prediction:
        proba, va = Recognizer(model, tta=tta, batch_size=batch_size).predict_arrays(faces.images[test_idx])
        return Prediction(proba=proba, va=va, y_true=faces.labels[test_idx])

    def score(p: Prediction) -> dict:
        return score_faces(p.outputs(), faces.labels[p.index], faces.va[p.index], dist)

    report = run("split", [str(m) for m in models], load_and_predict, score,
                 split=(np.arange(0), np.arange(len(faces))), run_key="model", extra={"data": faces.meta, "tta": tta})
    return report.to_dict()
