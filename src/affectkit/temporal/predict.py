"""Running a trained temporal model on videos: one row per clip and one per step.

The model's card says how it was trained (frame sampling, crop size, embedding), and
the videos are read the same way (:func:`~affectkit.temporal.video.read_clip_faces`),
so a model trained with ``affectkit train temporal`` runs unchanged on new footage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from affectkit.errors import InputError, WeightsError, printable
from affectkit.temporal.evaluate import net_config, predict_sequences, prepare
from affectkit.temporal.sequences import SequenceSet
from affectkit.temporal.trainer import TemporalConfig, load_temporal


def analyze_clips(
    videos: Sequence[str | Path],
    model: str | Path,
    *,
    detector: str | None = None,
    crop: str | None = None,
    on_error: str = "raise",
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Clip-level and per-step predictions of a temporal model for each video.

    Parameters
    ----------
    videos : sequence of str or Path
        Video files, or folders of frame images (25 fps).
    model : str or Path
        An exported temporal model (``.safetensors`` with a ``"kind": "temporal"`` card).
    detector, crop : str, optional
        Override the card's face detector (``mtcnn``/``haar``) and crop policy.
    on_error : {"raise", "skip"}
        A video that cannot be read (or has no face) raises, or is left out and its
        error returned.

    Returns
    -------
    clips : pandas.DataFrame
        One row per video: ``source``, ``duration_s`` (seconds), ``steps``,
        ``steps_with_face``, then for a ``classes`` model one probability column per
        class (the card's class names) and ``expression`` (the most probable), or for a
        ``va`` model ``valence`` and ``arousal`` in [-1, 1].
    steps : pandas.DataFrame
        One row per sampled step: ``source``, ``step``, ``time_s`` (seconds),
        ``face`` (False where no face was found and the nearest face was used), and
        the same prediction columns for that step.
    errors : list of str
        ``"<file>: <problem>"`` for each video left out (``on_error="skip"``).

    Raises
    ------
    WeightsError
        The model cannot be loaded.
    InputError
        A video cannot be read or has no face (``on_error="raise"``).
    """
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    from affectkit.faces.detect import create_detector
    from affectkit.temporal.video import read_clip_faces

    net, card = load_temporal(model)
    cfg = TemporalConfig.from_dict(card["config"])
    if cfg.embedding == "precomputed":
        raise ValueError(f"{model}: trained on precomputed embeddings, so it cannot read videos; "
                         "embed the videos the same way and use affectkit evaluate")
    if cfg.embedding in ("landmarks", "mouth"):
        raise ValueError(f"{model}: trained on 68-point landmark geometry, which the video detectors "
                         "(5-point MTCNN, Haar) do not give")
    sampling = card.get("sampling", {})
    rate, count = sampling.get("rate", cfg.rate), sampling.get("count", cfg.count)
    det_name = detector or sampling.get("detector_name") or "mtcnn"
    det = create_detector(det_name)
    classes = list(card["classes"])
    clip_rows, step_rows, errors = [], [], []
    for video in videos:
        try:
            faces = read_clip_faces(video, rate=rate, count=count, detector=det, detector_name=det_name,
                                    crop=crop or sampling.get("crop") or "ng2015",
                                    size=int(sampling.get("size") or cfg.face_size))
        except InputError as exc:
            if on_error == "raise":
                raise
            errors.append(str(exc))
            continue
        seqs = SequenceSet([faces.crops], [faces.times], np.array([-1]), [np.full((len(faces.times), 2), np.nan, np.float32)],
                           [faces.present], [""], [str(video)], tuple(classes), meta={"content": "crops", "root": str(video)})
        embedded = prepare(seqs, cfg.embedding)
        if cfg.model != "c3d" and embedded.dim != int(card["input_dim"]):
            # A card edited or paired with other weights: say so rather than fail inside the network.
            raise WeightsError(f"{printable(model)}: the card's input_dim {card['input_dim']} does not match its "
                               f"embedding {cfg.embedding!r}, which gives {embedded.dim}-d frames")
        pred = predict_sequences(net, net_config(card), embedded)
        clip_rows.append({"source": str(video), "duration_s": faces.duration_s, "steps": len(faces.times),
                          "steps_with_face": int(faces.present.sum()), **_values(cfg.task, pred, classes, 0)})
        for t, (time_s, present) in enumerate(zip(faces.times, faces.present)):
            step_rows.append({"source": str(video), "step": t, "time_s": float(time_s), "face": bool(present),
                              **_step_values(cfg.task, pred["steps"][0][t], classes)})
    return pd.DataFrame(clip_rows), pd.DataFrame(step_rows), errors


def _values(task: str, pred: dict, classes: list[str], i: int) -> dict:
    if task == "classes":
        p = pred["proba"][i]
        return {**{c: float(v) for c, v in zip(classes, p)}, "expression": classes[int(np.argmax(p))]}
    return {"valence": float(pred["va"][i, 0]), "arousal": float(pred["va"][i, 1])}


def _step_values(task: str, row: np.ndarray, classes: list[str]) -> dict:
    if task == "classes":
        return {**{c: float(v) for c, v in zip(classes, row)}, "expression": classes[int(np.argmax(row))]}
    return {"valence": float(row[0]), "arousal": float(row[1])}
