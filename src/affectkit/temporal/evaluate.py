"""Predicting with temporal models, scoring sequences, and temporal experiments.

Scores follow the seed papers: clip accuracy, UAR and the confusion matrix for video
classification (Ouyang et al. 2017; Vielzeuf et al. 2018), and for per-step
valence/arousal the CCC computed per sequence and averaged over sequences (Jin et al.
2019, as the AVEC/SEND protocols report it), next to the CCC, PCC and RMSE pooled over
all steps.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

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


def ensemble_outputs(preds: list[dict], task: str) -> dict:
    """Average several models' :func:`predict_sequences` outputs (a seed ensemble)."""
    if task == "classes":
        from affectkit.evaluation.protocols import ensemble

        return {"proba": ensemble([p["proba"] for p in preds]),
                "steps": [np.mean(s, 0) for s in zip(*[p["steps"] for p in preds])]}
    return {"va": np.mean([p["va"] for p in preds], 0),
            "steps": [np.mean(s, 0) for s in zip(*[p["steps"] for p in preds])]}


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
        ``models`` (one report per model), ``summary`` (mean ± std when more than
        one), ``ensemble`` (the report of their averaged outputs, more than one) and
        ``pooled`` (the headline: the ensemble, or the one model's report).

    Raises
    ------
    WeightsError
        A model file is missing or not a temporal model.
    ValueError
        The models differ in task or embedding, or the data lacks labels.
    """
    from affectkit.evaluation.protocols import summarize_seeds

    loaded = [load_temporal(m) for m in models]
    tasks = {card["config"]["task"] for _, card in loaded}
    embeddings = {card["config"]["embedding"] for _, card in loaded}
    if len(tasks) > 1 or len(embeddings) > 1:
        raise ValueError(f"the models differ in task {sorted(tasks)} or embedding {sorted(embeddings)}")
    task, embedding = tasks.pop(), embeddings.pop()
    data = prepare(align_classes(seqs, loaded[0][1]["classes"]), embedding, progress)
    preds, reports = [], []
    for (net, card), path in zip(loaded, models):
        if card["classes"] != loaded[0][1]["classes"]:
            raise ValueError(f"{path}: its classes differ from {models[0]}'s")
        pred = predict_sequences(net, net_config(card), data)
        preds.append(pred)
        reports.append({"model": str(path), **score_sequences(pred, data, task=task)})
    out = {"models": reports, "task": task, "embedding": embedding, "n_sequences": len(data)}
    if len(preds) > 1:
        out["summary"] = summarize_seeds([{k: v for k, v in r.items() if k != "model"} for r in reports])
        out["ensemble"] = score_sequences(ensemble_outputs(preds, task), data, task=task)
    out["pooled"] = out.get("ensemble") or reports[0]
    return out
