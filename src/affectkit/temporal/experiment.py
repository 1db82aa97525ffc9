"""Temporal experiments: load sequence data, train over seeds and folds, and report.

The command line's ``affectkit train --temporal MODEL`` is :func:`run_from_options`;
:func:`run_temporal_experiment` is the same with data already loaded.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.temporal.evaluate import align_classes, ensemble_outputs, net_config, predict_sequences, prepare
from affectkit.temporal.scoring import score_sequences
from affectkit.temporal.sequences import SequenceSet
from affectkit.temporal.trainer import TemporalConfig, fit_temporal, load_temporal


def run_temporal_experiment(
    cfg: TemporalConfig,
    train: SequenceSet,
    out_dir: str | Path,
    *,
    test: SequenceSet | None = None,
    val: SequenceSet | None = None,
    protocol: str = "split",
    seeds: Sequence[int] = (0,),
    progress: bool = False,
    command: str = "",
) -> dict:
    """Train and score a temporal model over seeds, with a split or subject k-fold protocol.

    Parameters
    ----------
    cfg : TemporalConfig
        ``cfg.seed`` is replaced by each of ``seeds``.
    train : SequenceSet
        Training sequences (crops or precomputed embeddings; embedded here).
    out_dir : str or Path
        ``seed_<s>/`` run folders (``fold_<k>/`` inside for k-fold), and
        ``report.json`` / ``report.md``.
    test, val : SequenceSet, optional
        ``split`` protocol: the test set (required) and a validation set that picks
        the best epoch.
    protocol : str
        ``split``, ``kfold:K`` (subject-independent, see
        :func:`~affectkit.evaluation.protocols.subject_kfold`) or ``loso``.
    seeds : sequence of int
        One run per seed; the report gives mean ± std and the seed ensemble.

    Returns
    -------
    dict
        ``seeds`` (per-seed reports), ``summary``, ``ensemble`` (several seeds),
        ``pooled`` (the headline), ``config``, ``command`` and ``models`` (the
        exported model of each seed for ``split``).

    Raises
    ------
    ValueError
        Missing test set, unknown protocol, data without subjects for k-fold, or
        labels the task needs are absent.
    """
    from affectkit.evaluation.protocols import leave_one_subject_out, subject_kfold, summarize_seeds
    from affectkit.evaluation.report import write_report

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = prepare(train, cfg.embedding, progress)
    if protocol == "split":
        if test is None:
            raise ValueError("the split protocol needs a test set")
        test = prepare(align_classes(test, train.class_names), cfg.embedding, progress)
        val = prepare(align_classes(val, train.class_names), cfg.embedding, progress) if val is not None else None
    elif protocol != "loso" and not protocol.startswith("kfold:"):
        raise ValueError(f"protocol must be split, kfold:K or loso, got {protocol!r}")
    elif len(set(train.subjects)) < 2:
        raise ValueError(f"protocol {protocol} needs sequences of at least two subjects")
    recipe = {"command": command}
    per_seed, preds, models = [], [], []
    for seed in seeds:
        c = TemporalConfig.from_dict({**asdict(cfg), "seed": int(seed)})
        if protocol == "split":
            path = fit_temporal(train, out / f"seed_{seed}", c, val=val, progress=progress, recipe=recipe)
            net, card = load_temporal(path)
            pred = predict_sequences(net, net_config(card), test)
            scored = test
            models.append(str(path))
        else:
            groups = np.asarray(train.subjects)
            folds = (leave_one_subject_out(groups) if protocol == "loso"
                     else subject_kfold(groups, int(protocol.split(":")[1]), seed=int(seed)))
            pred, order = _cross_fit(c, train, folds, out / f"seed_{seed}", progress, recipe)
            scored = train.subset(order)
        preds.append(pred)
        per_seed.append({"seed": int(seed), **score_sequences(pred, scored, task=cfg.task)})
    report = {"config": asdict(cfg), "protocol": protocol, "command": command, "seeds": per_seed, "models": models,
              "summary": summarize_seeds([{k: v for k, v in r.items() if k != "seed"} for r in per_seed])}
    if len(preds) > 1:
        report["ensemble"] = score_sequences(ensemble_outputs(preds, cfg.task), scored, task=cfg.task)
    report["pooled"] = report.get("ensemble") or per_seed[0]
    if cfg.task == "classes":
        report["class_names"] = list(train.class_names)
    write_report(report, out, class_names=list(train.class_names) if cfg.task == "classes" else None,
                 title=f"temporal {cfg.model} ({cfg.task}, {cfg.embedding}) — {protocol}")
    (out / "experiment.json").write_text(json.dumps({"config": asdict(cfg), "protocol": protocol, "seeds": list(seeds)}, indent=2))
    return report


def _cross_fit(cfg: TemporalConfig, data: SequenceSet, folds, out: Path, progress: bool, recipe: dict):
    """Out-of-fold predictions, concatenated in fold order, and the sequence order."""
    parts, order = [], []
    for k, (tr, te) in enumerate(folds):
        path = fit_temporal(data.subset(tr), out / f"fold_{k}", cfg, progress=progress, recipe=recipe)
        net, card = load_temporal(path)
        parts.append(predict_sequences(net, net_config(card), data.subset(te)))
        order += [int(i) for i in te]
    if cfg.task == "classes":
        return {"proba": np.concatenate([p["proba"] for p in parts])}, order
    return {"va": np.concatenate([p["va"] for p in parts]), "steps": [s for p in parts for s in p["steps"]]}, order


EXPERIMENT_KEYS = ("data", "test_data", "train_split", "val_split", "test_split", "protocol", "seeds", "out")


def run_from_options(options: dict, *, progress: bool = False, command: str = "") -> dict:
    """Load the sequence data named in ``options`` and run :func:`run_temporal_experiment`.

    Parameters
    ----------
    options : dict
        ``data`` (``KIND:PATH``, see :func:`~affectkit.temporal.corpora.load_sequences`),
        ``out``, and optionally ``test_data``, ``train_split`` (default ``train``),
        ``val_split`` (default ``validation`` when the data has it; None for none),
        ``test_split`` (default ``test``), ``protocol``, ``seeds``, ``detector``,
        ``crop``, and any :class:`~affectkit.temporal.trainer.TemporalConfig` field.

    Returns
    -------
    dict
        The report of :func:`run_temporal_experiment`.

    Raises
    ------
    DataError
        Missing or malformed data.
    ValueError
        Invalid options.
    """
    from affectkit.errors import DataError
    from affectkit.temporal.corpora import load_sequences

    cfg = TemporalConfig.from_dict(options)
    sampling = {"rate": cfg.rate, "count": cfg.count, "size": cfg.face_size,
                "detector_name": options.get("detector", "mtcnn"), "crop": options.get("crop", "ng2015")}
    if cfg.model == "c3d" and cfg.count is None and options.get("rate") is None:
        sampling.update(rate=None, count=cfg.c3d_frames)  # Ouyang et al.: 16 frames per clip
    protocol = options.get("protocol") or "split"
    data = options["data"]
    train = load_sequences(data, options.get("train_split") or "train", **sampling)
    test = val = None
    if protocol == "split":
        test = load_sequences(options.get("test_data") or data, options.get("test_split") or "test", **sampling)
        val_split = options.get("val_split", "validation")
        if val_split:
            try:
                val = load_sequences(data, val_split, **sampling)
            except DataError:
                if "val_split" in options:
                    raise  # asked for explicitly: report it
    seeds = options.get("seeds") or [cfg.seed]
    return run_temporal_experiment(cfg, train, options["out"], test=test, val=val, protocol=protocol, seeds=seeds,
                                   progress=progress, command=command)
