"""Predicting with temporal models, and evaluating saved temporal models.

Scores follow the seed papers: clip accuracy, UAR and the confusion matrix for video
classification (Ouyang et al. 2017; Vielzeuf et al. 2018), and for per-step
valence/arousal the CCC computed per sequence and averaged over sequences (Jin et al.
2019, as the AVEC/SEND protocols report it), next to the CCC, PCC and RMSE pooled over
all steps (:mod:`affectkit.temporal.scoring`). Evaluating saved models is the experiment
runner (:func:`affectkit.evaluation.runner.run`) under the ``split`` protocol, with a
``fit_predict`` that loads a model instead of training one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from affectkit.evaluation.runner import Prediction, run
from affectkit.temporal.sequences import SequenceSet
from affectkit.temporal.scoring import score_sequences
from affectkit.temporal.trainer import TemporalConfig, TemporalNet, batch_outputs, load_temporal, make_batch


def net_config(card_or_cfg: dict | TemporalConfig) -> dict:
    """The batching options (model name, C3D frames and size) of a card or config."""
    cfg = card_or_cfg if isinstance(card_or_cfg, TemporalConfig) else TemporalConfig.from_dict(card_or_cfg["config"])
    return {"model": cfg.model, "c3d_frames": cfg.c3d_frames, "c3d_size": cfg.c3d_size}


@torch.inference_mode()
def predict_sequences(net: TemporalNet, net_cfg: dict, seqs: SequenceSet, batch_size: int = 64) -> dict:
    """Run a temporal model over every sequence.

    Parameters
    ----------
    net : TemporalNet
    net_cfg : dict
        From :func:`net_config`.
    seqs : SequenceSet
        Sequences in the content the model was trained on.
    batch_size : int

    Returns
    -------
    dict
        ``classes`` task: ``proba`` ``(N, C)`` ``float32`` clip class probabilities and
        ``steps``, a list of ``(T_i, C)`` per-step probabilities (for the recurrent
        models, the prediction from the frames up to that step).
        ``va`` task: ``va`` ``(N, 2)`` clip valence/arousal in [-1, 1] and ``steps``,
        a list of ``(T_i, 2)`` per-step valence/arousal. Models without per-step
        outputs (C3D) repeat the clip value at every step.
    """
    was_training = net.training
    net.eval()
    clips, steps = [], []
    with torch.no_grad():
        for start in range(0, len(seqs), batch_size):
            idx = list(range(start, min(start + batch_size, len(seqs))))
            clip_out, per_step = batch_outputs(net, make_batch(net_cfg, seqs, idx), [len(seqs.x[i]) for i in idx])
            clips.append(clip_out)
            steps += per_step
    net.train(was_training)
    clip = torch.cat(clips).numpy()
    return {"proba": clip, "steps": steps} if net.task == "classes" else {"va": clip, "steps": steps}


def align_classes(seqs: SequenceSet, class_names: Sequence[str]) -> SequenceSet:
    """Renumber the clip labels of ``seqs`` into ``class_names`` order, by name.

    Raises
    ------
    ValueError
        If a labelled clip's class is not among ``class_names``.
    """
    class_names = tuple(class_names)
    if seqs.class_names == class_names:
        return seqs
    used = {seqs.class_names[i] for i in np.unique(seqs.labels[seqs.labels >= 0])}
    missing = sorted(used - set(class_names))
    if missing:
        raise ValueError(f"{seqs.meta.get('root', 'data')}: classes {missing} are not among the model's {list(class_names)}")
    labels = np.array([class_names.index(seqs.class_names[i]) if i >= 0 else -1 for i in seqs.labels])
    out = seqs.subset(range(len(seqs)))
    out.labels, out.class_names = labels, class_names
    return out


def prepare(seqs: SequenceSet, embedding: str, progress: bool = False) -> SequenceSet:
    """Embed face crops for a model (crops stay crops for C3D)."""
    from affectkit.temporal.embed import embed_sequences

    return embed_sequences(seqs, embedding, progress=progress)


def evaluate_temporal_models(models: Sequence[str | Path], seqs: SequenceSet, *, progress: bool = False) -> dict:
    """Score one or more temporal models (e.g. seeds) on the same sequences.

    Parameters
    ----------
    models : sequence of str or Path
        Exported temporal ``.safetensors`` files, all of one task and embedding.
    seqs : SequenceSet
        Face crops (or precomputed embeddings) with labels.

    Returns
    -------
    dict
        ``models`` (one report per model, ``model`` its path), ``summary`` (mean ± std
        over the models, more than one), ``ensemble`` (the report of their averaged outputs, more than
        one), ``pooled`` (the headline: the ensemble, or the one model's report),
        ``task``, ``embedding`` and ``n_sequences``:
        :meth:`~affectkit.evaluation.runner.Report.to_dict` (without ``summary`` for
        a single model).

    Raises
    ------
    WeightsError
        A model file is missing or not a temporal model.
    ValueError
        The models differ in task, embedding or classes, or the data lacks labels.
    """
    names = [str(m) for m in models]
    loaded = dict(zip(names, (load_temporal(m) for m in models)))
    first = loaded[names[0]][1]
    tasks = {card["config"]["task"] for _, card in loaded.values()}
    embeddings = {card["config"]["embedding"] for _, card in loaded.values()}
    if len(tasks) > 1 or len(embeddings) > 1:
        raise ValueError(f"the models differ in task {sorted(tasks)} or embedding {sorted(embeddings)}")
    task, embedding = tasks.pop(), embeddings.pop()
    for name, (_, card) in loaded.items():
        if card["classes"] != first["classes"]:
            raise ValueError(f"{name}: its classes differ from {names[0]}'s")
    data = prepare(align_classes(seqs, first["classes"]), embedding, progress)

    def load_and_predict(train_idx: np.ndarray, test_idx: np.ndarray, model: str, fold: int) -> Prediction:
        net, card = loaded[model]
        pred = predict_sequences(net, net_config(card), data.subset(test_idx))
        return Prediction(proba=pred.get("proba"), va=pred.get("va"), steps=pred["steps"], y_true=data.labels[test_idx])

    def score(p: Prediction) -> dict:
        return score_sequences(p.outputs(), data.subset(p.index), task=task)

    report = run("split", names, load_and_predict, score, split=(np.arange(0), np.arange(len(data))), run_key="model",
                 extra={"task": task, "embedding": embedding, "n_sequences": len(data)}).to_dict()
    if len(names) == 1:
        del report["summary"]  # one model: these reports have never had a mean ± std table
    return report
