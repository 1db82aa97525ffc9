"""Knowledge distillation: an ensemble of trained face models teaches one network.

The teachers' mean expression distribution on every training face becomes that face's
soft target (Hinton et al. 2015, "Distilling the Knowledge in a Neural Network",
arXiv:1503.02531; for facial expression, Vielzeuf et al. 2018 ship the ensemble
instead). The student trains on it through the soft-target path of
:class:`~affectkit.training.finetune.FinetuneConfig` (``soft_targets``), blended with
the face's own label by ``soft_weight``, so shipping keeps one network's cost.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.data.faceset import FaceSet
from affectkit.models.card import read_card
from affectkit.models.recognizer import Recognizer


def teacher_distribution(teachers: Sequence[str | Path], faces: FaceSet | np.ndarray, *, tta: str = "flip",
                         batch_size: int = 256) -> np.ndarray:
    """The teachers' mean expression probabilities on ``faces``.

    Parameters
    ----------
    teachers : sequence of str or Path
        Exported face models (``.safetensors`` with their cards) or bundled names;
        each must have been trained for expressions.
    faces : FaceSet or np.ndarray
        The faces (a FaceSet's ``images``, or the array itself), ``(N, S, S)`` or
        ``(N, S, S, 3)`` ``uint8``.
    tta : {"none", "flip", "multi"}
        Test-time augmentation of every teacher (see :class:`Recognizer`).

    Returns
    -------
    np.ndarray
        ``(N, 7)`` ``float32``, rows sum to 1, columns in ``EXPRESSIONS`` order.

    Raises
    ------
    WeightsError
        A teacher cannot be loaded.
    ValueError
        No teachers, or a teacher without an expression head (trained for
        valence/arousal only).
    """
    if not teachers:
        raise ValueError("distillation needs at least one teacher model")
    images = faces.images if isinstance(faces, FaceSet) else np.asarray(faces)
    total = np.zeros((len(images), 7), np.float64)
    for model in teachers:
        proba, _ = Recognizer(model, tta=tta, batch_size=batch_size).predict_arrays(images)
        if np.isnan(proba).any():
            raise ValueError(f"{model}: teacher has no expression head (trained for valence/arousal only)")
        total += proba
    return (total / len(teachers)).astype(np.float32)


def teacher_records(teachers: Sequence[str | Path]) -> list[dict]:
    """What the student's card records of each teacher: its path and its card's ``training``
    section (command, data, config, validation scores, and its own lineage), so the
    distilled model's card holds every stage of the recipe.

    Raises
    ------
    WeightsError
        A teacher's card cannot be read.
    """
    return [{"model": str(t), "training": read_card(t, "face").get("training", {})} for t in teachers]
