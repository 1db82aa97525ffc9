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
from affectkit.temporal.trainer import TemporalConfig, TemporalNet, load_temporal, make_batch


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
    for start in range(0, len(seqs), batch_size):
        idx = list(range(start, min(start + batch_size, len(seqs))))
        batch = make_batch(net_cfg, seqs, idx)
        device = net.mean.device
        mask = batch["mask"].to(device) if batch["mask"] is not None else None
        out = {k: v.cpu() for k, v in net(batch["x"].to(device), mask).items()}
        per_step = out.get("steps")
        if net.task == "classes":
            per_step = torch.softmax(per_step, -1) if per_step is not None else None
            clip_out = torch.softmax(out["clip"], 1)
        else:
            clip_out = out["clip"]
        clips.append(clip_out.float())
        for j, i in enumerate(idx):
            t = len(seqs.x[i])
            steps.append((per_step[j, :t] if per_step is not None else clip_out[j : j + 1].expand(t, -1)).numpy())
    net.train(was_training)
    clip = torch.cat(clips).numpy()
    steps = [s.astype(np.float32) for s in steps]
    return {"proba": clip, "steps": steps} if net.task == "classes" else {"va": clip, "steps": steps}


def _dimension_scores(steps: list[np.ndarray], targets: list[np.ndarray], k: int, name: str) -> dict | None:
    """Per-sequence CCC and the pooled regression metrics of one dimension's rated steps."""
    from affectkit.evaluation.metrics import ccc, regression_report

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
    """Score :func:`predict_sequences` output against the labels of ``seqs``.

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
    from affectkit.evaluation.metrics import classification_report

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
