"""Temporal experiments: load sequence data, train over seeds and folds, and report.

The command line's ``affectkit train temporal --model MODEL`` is :func:`run_from_options`;
:func:`run_temporal_experiment` is the same with data already loaded. Protocol, seeds,
folds, summary and seed ensemble are the experiment runner's
(:func:`affectkit.evaluation.runner.run`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.data.registry import load_dataset
from affectkit.errors import DataError, ProtocolError
from affectkit.evaluation.protocols import parse_protocol
from affectkit.evaluation.report import write_report
from affectkit.evaluation.runner import Prediction, run
from affectkit.temporal.evaluate import align_classes, net_config, predict_sequences, prepare
from affectkit.temporal.scoring import score_sequences
from affectkit.temporal.sequences import SequenceSet, concat
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
        :func:`~affectkit.evaluation.protocols.subject_kfold`) or ``loso``
        (:func:`~affectkit.evaluation.protocols.parse_protocol`).
    seeds : sequence of int
        One run per seed; the report gives mean ± std and the seed ensemble.

    Returns
    -------
    dict
        ``config``, ``protocol``, ``command``, ``seeds`` (per-seed reports; with
        ``kfold``/``loso`` the pooled out-of-fold report and ``folds``, mean ± std over
        the folds), ``models`` (the exported model of each seed for ``split``),
        ``summary``, ``ensemble`` (several seeds), ``pooled`` (the headline) and, for
        the ``classes`` task, ``class_names``:
        :meth:`~affectkit.evaluation.runner.Report.to_dict` plus ``class_names``.

    Raises
    ------
    ProtocolError
        A malformed protocol, or ``split`` without a test set.
    ValueError
        Data without subjects for k-fold, or labels the task needs are absent.
    """
    proto = parse_protocol(protocol)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train = prepare(train, cfg.embedding, progress)
    if proto.kind == "split":
        if test is None:
            raise ProtocolError("the split protocol needs a test set")
        test = prepare(align_classes(test, train.class_names), cfg.embedding, progress)
        val = prepare(align_classes(val, train.class_names), cfg.embedding, progress) if val is not None else None
        pool, split = concat([train, test]), (np.arange(len(train)), np.arange(len(train), len(train) + len(test)))
    elif len(set(train.subjects)) < 2:
        raise ValueError(f"protocol {proto} needs sequences of at least two subjects")
    else:
        pool, split = train, None
    recipe = {"command": command}
    models: list[str] = []

    def fit_predict(tr: np.ndarray, te: np.ndarray, seed: int, fold: int) -> Prediction:
        c = TemporalConfig.from_dict({**asdict(cfg), "seed": int(seed)})
        if split is not None:
            path = fit_temporal(train, out / f"seed_{seed}", c, val=val, progress=progress, recipe=recipe)
            models.append(str(path))
        else:
            path = fit_temporal(pool.subset(tr), out / f"seed_{seed}" / f"fold_{fold}", c, progress=progress,
                                recipe=recipe)
        net, card = load_temporal(path)
        pred = predict_sequences(net, net_config(card), pool.subset(te))
        return Prediction(proba=pred.get("proba"), va=pred.get("va"), steps=pred["steps"], y_true=pool.labels[te])

    def score(p: Prediction) -> dict:
        return score_sequences(p.outputs(), pool.subset(p.index), task=cfg.task)

    report = run(proto, [int(s) for s in seeds], fit_predict, score, groups=None if split else np.asarray(pool.subjects),
                 split=split, config=asdict(cfg), extra={"protocol": str(proto), "command": command, "models": models}).to_dict()
    if cfg.task == "classes":
        report["class_names"] = list(train.class_names)
    write_report(report, out, class_names=list(train.class_names) if cfg.task == "classes" else None,
                 title=f"temporal {cfg.model} ({cfg.task}, {cfg.embedding}) — {proto}")
    (out / "experiment.json").write_text(json.dumps({"config": asdict(cfg), "protocol": str(proto), "seeds": list(seeds)}, indent=2))
    return report


EXPERIMENT_KEYS = ("data", "test_data", "train_split", "val_split", "test_split", "protocol", "seeds", "out")


def run_from_options(options: dict, *, progress: bool = False, command: str = "") -> dict:
    """Load the sequence data named in ``options`` and run :func:`run_temporal_experiment`.

    Parameters
    ----------
    options : dict
        ``data`` (``KIND:PATH``, see :func:`~affectkit.data.registry.load_dataset`),
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

    cfg = TemporalConfig.from_dict(options)
    sampling = {"rate": cfg.rate, "count": cfg.count, "size": cfg.face_size,
                "detector_name": options.get("detector", "mtcnn"), "crop": options.get("crop", "ng2015")}
    if cfg.model == "c3d" and cfg.count is None and options.get("rate") is None:
        sampling.update(rate=None, count=cfg.c3d_frames)  # Ouyang et al.: 16 frames per clip
    protocol = parse_protocol(options.get("protocol") or "split")
    data = options["data"]
    train = _sequences(data, options.get("train_split") or "train", **sampling)
    test = val = None
    if protocol.kind == "split":
        test = _sequences(options.get("test_data") or data, options.get("test_split") or "test", **sampling)
        val_split = options.get("val_split", "validation")
        if val_split:
            try:
                val = _sequences(data, val_split, **sampling)
            except DataError:
                if "val_split" in options:
                    raise  # asked for explicitly: report it
    seeds = options.get("seeds") or [cfg.seed]
    return run_temporal_experiment(cfg, train, options["out"], test=test, val=val, protocol=str(protocol), seeds=seeds,
                                   progress=progress, command=command)


def _sequences(spec: str, split: str, **sampling):
    """A sequence dataset from the one registry (a face or voice kind is refused in one line)."""
    return load_dataset(spec, split, modality="sequence", **sampling)
