"""The one experiment runner of every modality: protocol × seeds × folds, scored once.

Faces (:func:`affectkit.training.experiment.run_experiment`), sequences
(:func:`affectkit.temporal.experiment.run_temporal_experiment`) and voice
(:func:`affectkit.audio.experiment.run_audio_experiment`) experiments, and the
evaluation of saved face and sequence models
(:func:`affectkit.evaluation.evaluate.evaluate_models`,
:func:`affectkit.temporal.evaluate.evaluate_temporal_models`) are all :func:`run`. A
modality supplies only

* ``fit_predict(train_idx, test_idx, seed, fold) -> Prediction``: train on the items
  ``train_idx`` of its pool (or load a saved model, ignoring ``train_idx``) and predict
  the items ``test_idx``; and
* ``score(prediction) -> dict``: the metrics of a :class:`Prediction`, looking the
  targets up by ``prediction.index`` (or using ``prediction.y_true``).

:func:`run` then does, once for everyone: parse the protocol
(:func:`~affectkit.evaluation.protocols.parse_protocol`), make each seed's folds
(:meth:`~affectkit.evaluation.protocols.Protocol.folds`), call ``fit_predict`` per fold,
pool each seed's fold predictions (item order) and score them (with the mean ± std over
folds for ``kfold``/``loso``), summarise the seeds (mean ± sample std,
:func:`~affectkit.evaluation.protocols.summarize_seeds`), average the seeds' outputs
into a seed ensemble and score it, and pick the headline (``pooled``: the ensemble, or
the single seed). The result is a :class:`Report`; :meth:`Report.to_dict` is the
``report.json`` structure.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable, ClassVar, Sequence

import numpy as np

from affectkit.evaluation.metrics import classification_report
from affectkit.evaluation.protocols import Protocol, ensemble, parse_protocol, summarize_seeds

RunId = int | str
"""A run's identifier: a training seed, or the name of a saved model being evaluated."""


@dataclass
class Prediction:
    """What one model predicted for some items of a pool (one fold of one seed, a seed's
    pooled folds, or the seed ensemble).

    Attributes
    ----------
    index : np.ndarray or None
        ``(n,)`` int64 indices of the predicted items in the modality's pool. Left None
        by ``fit_predict``; :func:`run` sets it to the fold's ``test_idx``.
    proba : np.ndarray or None
        ``(n, C)`` float class probabilities (rows sum to 1).
    pred : np.ndarray or None
        ``(n,)`` int class ids, for models without probabilities.
    va : np.ndarray or None
        ``(n, 2)`` float valence/arousal in [-1, 1] (one value per item).
    steps : list of np.ndarray or None
        ``n`` arrays ``(T_i, D)`` float, per-step outputs of a sequence model
        (probabilities or valence/arousal at every step of item ``i``).
    y_true : np.ndarray or None
        ``(n,)`` int64 true class ids (``-1`` = unlabelled), when ``fit_predict``
        supplies them; a ``score`` may instead look the targets up by ``index``.
    seed : int or str or None
        The run (:data:`RunId`) that made the prediction; ``"ensemble"`` for the seed
        ensemble. Set by :func:`run`.
    fold : str
        ``"test"`` (``split``), ``"fold_<i>"`` (``kfold``/``loso``, ``i`` from 0),
        ``"all"`` (a seed's pooled folds, the ensemble). Set by :func:`run`.
    """

    index: np.ndarray | None = None
    proba: np.ndarray | None = None
    pred: np.ndarray | None = None
    va: np.ndarray | None = None
    steps: list[np.ndarray] | None = None
    y_true: np.ndarray | None = None
    seed: RunId | None = None
    fold: str = ""

    OUTPUTS: ClassVar[tuple[str, ...]] = ("proba", "pred", "va", "steps")
    """The output fields, in the order :meth:`outputs` gives them."""

    def outputs(self) -> dict[str, Any]:
        """The outputs that are set, as ``{"proba": ..., "va": ...}`` (the dict the
        modalities' scoring functions take)."""
        return {k: getattr(self, k) for k in self.OUTPUTS if getattr(self, k) is not None}

    def take(self, order: np.ndarray) -> "Prediction":
        """The rows ``order`` (int positions, not pool indices), every per-item field reordered."""
        order = np.asarray(order, dtype=np.int64)
        rows = {}
        for name in ("index", "proba", "pred", "va", "y_true"):
            val = getattr(self, name)
            rows[name] = None if val is None else np.asarray(val)[order]
        rows["steps"] = None if self.steps is None else [self.steps[i] for i in order]
        return replace(self, **rows)

    @classmethod
    def concat(cls, parts: Sequence["Prediction"], *, seed: RunId | None = None, fold: str = "all") -> "Prediction":
        """The predictions of several folds together, sorted by item index.

        An output (or ``y_true``) is kept only if every part has it.

        Raises
        ------
        ValueError
            If ``parts`` is empty or a part has no ``index``.
        """
        if not parts or any(p.index is None for p in parts):
            raise ValueError("Prediction.concat needs predictions with their item indices")
        joined: dict[str, Any] = {"index": np.concatenate([np.asarray(p.index, dtype=np.int64) for p in parts])}
        for name in ("proba", "pred", "va", "y_true"):
            if all(getattr(p, name) is not None for p in parts):
                joined[name] = np.concatenate([np.asarray(getattr(p, name)) for p in parts])
        if all(p.steps is not None for p in parts):
            joined["steps"] = [s for p in parts for s in p.steps]
        out = cls(**joined, seed=seed, fold=fold)
        return out.take(np.argsort(out.index, kind="stable"))


FitPredict = Callable[[np.ndarray, np.ndarray, RunId, int], Prediction]
"""``fit_predict(train_idx, test_idx, seed, fold) -> Prediction``: ``train_idx`` and
``test_idx`` are ``(n,)`` int64 pool indices; ``fold`` counts a seed's folds from 0.
The returned :class:`Prediction` holds one row per ``test_idx`` item, in that order."""

Score = Callable[[Prediction], dict]
"""``score(prediction) -> dict`` of metrics (e.g. a
:func:`~affectkit.evaluation.metrics.classification_report`); nested dicts and scalar
numbers are summarised over seeds and folds, lists (recall, confusion) are not."""


@dataclass
class Report:
    """The outcome of :func:`run`: per-seed scores, their summary, the seed ensemble and
    the headline.

    Attributes
    ----------
    protocol : Protocol
    runs : list of dict
        One report per run (seed, or evaluated model), in run order:
        ``{run_key: id, **score(pooled folds)}``, plus ``"folds"`` (mean ± std over the
        folds, :func:`~affectkit.evaluation.protocols.summarize_seeds`) for
        ``kfold``/``loso``, plus what ``run_info`` added.
    summary : dict
        Mean ± sample std over the runs of every scalar metric
        (:func:`~affectkit.evaluation.protocols.summarize_seeds`; the run id is left out).
    pooled : dict
        The headline: ``ensemble`` when there is one, else the first run's report.
    ensemble : dict or None
        The score of the runs' averaged outputs (more than one run, all on the same
        items, with probabilities, valence/arousal or per-step outputs to average).
    config : dict or None
        The experiment's configuration, as given to :func:`run`.
    extra : dict
        Further top-level keys of :meth:`to_dict` (``command``, ``data``, ...).
    run_key : str
        ``"seed"`` (training runs) or ``"model"`` (evaluated models); the runs are
        listed under ``run_key + "s"``.
    predictions : list of Prediction
        Each run's pooled predictions, sorted by item index (not in :meth:`to_dict`).
    ensemble_prediction : Prediction or None
        The seed ensemble's averaged outputs (not in :meth:`to_dict`).
    """

    protocol: Protocol
    runs: list[dict]
    summary: dict
    pooled: dict
    ensemble: dict | None = None
    config: dict | None = None
    extra: dict = field(default_factory=dict)
    run_key: str = "seed"
    predictions: list[Prediction] = field(default_factory=list, repr=False)
    ensemble_prediction: Prediction | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        """The report as ``report.json`` and the command line have it.

        Returns
        -------
        dict
            ``config`` (when given), the ``extra`` keys (a modality whose reports
            name the protocol at the top puts ``protocol`` there), the runs under
            ``"seeds"`` or ``"models"``, ``summary``, ``ensemble`` (when there is one)
            and ``pooled``. Values may be numpy scalars or NaN;
            :func:`~affectkit.evaluation.report.write_report` makes them JSON.
        """
        out: dict = {}
        if self.config is not None:
            out["config"] = self.config
        out.update(self.extra)
        out[f"{self.run_key}s"] = self.runs
        out["summary"] = self.summary
        if self.ensemble is not None:
            out["ensemble"] = self.ensemble
        out["pooled"] = self.pooled
        return out


def average(predictions: Sequence[Prediction]) -> Prediction | None:
    """The seed ensemble: the mean of several runs' outputs on the same items.

    Probabilities are averaged with :func:`~affectkit.evaluation.protocols.ensemble`,
    valence/arousal and per-step outputs with the arithmetic mean. Hard class ids
    (``pred``) are not averaged.

    Parameters
    ----------
    predictions : sequence of Prediction
        Each sorted by ``index`` (as :meth:`Prediction.concat` leaves them).

    Returns
    -------
    Prediction or None
        ``seed="ensemble"``, ``fold="all"``; None when the runs predicted different
        items, or share no output that can be averaged.
    """
    if not predictions:
        return None
    first = predictions[0]
    if any(p.index is None or not np.array_equal(p.index, first.index) for p in predictions):
        return None
    outs: dict[str, Any] = {}
    if all(p.proba is not None for p in predictions):
        outs["proba"] = ensemble([p.proba for p in predictions])
    if all(p.va is not None for p in predictions):
        outs["va"] = np.mean([p.va for p in predictions], axis=0)
    if all(p.steps is not None for p in predictions):
        outs["steps"] = [np.mean(s, 0) for s in zip(*[p.steps for p in predictions])]
    if not outs:
        return None
    return Prediction(index=first.index, y_true=first.y_true, seed="ensemble", fold="all", **outs)


def _checked(p: Prediction, tr: np.ndarray, te: np.ndarray, seed: RunId, fold: str) -> Prediction:
    """``fit_predict``'s result with index, seed and fold set, after checking its shape."""
    where = f"seed {seed}, {fold}"
    if not isinstance(p, Prediction):
        raise TypeError(f"{where}: fit_predict returned {type(p).__name__}, not a Prediction")
    if not p.outputs():
        raise ValueError(f"{where}: fit_predict returned none of {', '.join(Prediction.OUTPUTS)}")
    if p.index is not None and not np.array_equal(np.asarray(p.index), te):
        raise ValueError(f"{where}: the prediction's index is not the fold's test items")
    for name in ("proba", "pred", "va", "steps", "y_true"):
        val = getattr(p, name)
        if val is not None and len(val) != len(te):
            raise ValueError(f"{where}: {name!r} has {len(val)} rows for {len(te)} test items")
    return replace(p, index=te, seed=seed, fold=fold)


def run(
    protocol: str | Protocol,
    seeds: Sequence[RunId],
    fit_predict: FitPredict,
    score: Score,
    *,
    groups: Sequence | np.ndarray | None = None,
    stratify: Sequence | np.ndarray | None = None,
    split: tuple[Sequence[int] | np.ndarray, Sequence[int] | np.ndarray] | None = None,
    max_train: int | None = None,
    run_key: str = "seed",
    run_info: Callable[[RunId], dict] | None = None,
    config: dict | None = None,
    extra: dict | None = None,
) -> Report:
    """Run an experiment (or an evaluation of saved models) under a protocol and score it.

    For every seed: the protocol's folds (:meth:`Protocol.folds` with ``seed``,
    ``groups``, ``stratify``, ``split``, ``max_train``), ``fit_predict`` per fold, the
    fold predictions pooled in item order and scored (the run's report), and for
    ``kfold``/``loso`` the mean ± std over the fold scores (``"folds"``). Then the
    summary over seeds, the seed ensemble (:func:`average`) and its score, and the
    headline (``pooled``).

    Parameters
    ----------
    protocol : str or Protocol
        ``split``, ``kfold:K`` or ``loso`` (:func:`~affectkit.evaluation.protocols.parse_protocol`).
    seeds : sequence of int or str
        One run per entry, passed to ``fit_predict`` as ``seed`` and recorded under
        ``run_key``. ``kfold`` and ``max_train`` use it as a random seed, so it must be
        an int there; evaluating saved models passes their names (with ``split``).
    fit_predict : callable
        ``fit_predict(train_idx, test_idx, seed, fold) -> Prediction`` (:data:`FitPredict`).
    score : callable
        ``score(prediction) -> dict`` (:data:`Score`); called on each fold, each seed's
        pooled predictions and the ensemble.
    groups : array-like, optional
        ``(N,)`` subject ids of the pool; required by ``kfold``/``loso``.
    stratify : array-like, optional
        ``(N,)`` int class ids: stratified ``kfold`` folds.
    split : (array-like, array-like), optional
        ``split`` protocol, required there: training and test pool indices. Evaluating
        saved models: ``([], all items)``.
    max_train : int, optional
        Per seed, a random subset of at most this many items (the training side for
        ``split``; all items before folding for ``kfold``/``loso``).
    run_key : str
        ``"seed"`` or ``"model"`` (see :attr:`Report.run_key`).
    run_info : callable, optional
        ``run_info(seed) -> dict``, called after a seed's folds; its keys are added to
        that run's report (e.g. the parameters tuned in each fold).
    config : dict, optional
        Stored as :attr:`Report.config`.
    extra : dict, optional
        Stored as :attr:`Report.extra`.

    Returns
    -------
    Report

    Raises
    ------
    ProtocolError
        A malformed protocol string, or a protocol without what it needs (``split``
        without ``split``; ``kfold``/``loso`` without ``groups``).
    ValueError
        No seeds; a non-int seed where one seeds randomness; a fold whose training and
        test items overlap; ``fit_predict`` returning no outputs, rows of the wrong
        number, or other items than the fold's; fewer subjects than folds.
    TypeError
        ``fit_predict`` returning something other than a :class:`Prediction`.
    """
    proto = parse_protocol(protocol)
    seeds = list(seeds)
    if not seeds:
        raise ValueError("an experiment needs at least one seed")
    if (proto.kind == "kfold" or max_train) and not all(isinstance(s, (int, np.integer)) for s in seeds):
        raise ValueError(f"protocol {proto}{' with max_train' if max_train else ''} needs integer seeds, got {seeds}")
    runs: list[dict] = []
    pooled_predictions: list[Prediction] = []
    for seed in seeds:
        folds = proto.folds(seed=seed if isinstance(seed, (int, np.integer)) else 0, groups=groups,
                            stratify=stratify, split=split, max_train=max_train)
        parts = []
        for i, (tr, te) in enumerate(folds):
            fold = "test" if proto.kind == "split" else f"fold_{i}"
            if np.intersect1d(tr, te).size:
                raise ValueError(f"seed {seed}, {fold}: items {np.intersect1d(tr, te)[:5].tolist()} are in both "
                                 "training and test")
            parts.append(_checked(fit_predict(tr, te, seed, i), tr, te, seed, fold))
        pooled = Prediction.concat(parts, seed=seed)
        record = {run_key: seed, **score(pooled)}
        if proto.by_subject:
            record["folds"] = summarize_seeds([score(p) for p in parts])
        if run_info is not None:
            record.update(run_info(seed))
        runs.append(record)
        pooled_predictions.append(pooled)
    summary = summarize_seeds([{k: v for k, v in r.items() if k != run_key} for r in runs])
    ens_prediction = average(pooled_predictions) if len(pooled_predictions) > 1 else None
    ens = score(ens_prediction) if ens_prediction is not None else None
    return Report(protocol=proto, runs=runs, summary=summary, pooled=ens or runs[0], ensemble=ens,
                  config=config, extra=dict(extra or {}), run_key=run_key, predictions=pooled_predictions,
                  ensemble_prediction=ens_prediction)


def classification_scorer(n_classes: int, class_names: Sequence[str] | None = None) -> Score:
    """A ``score`` for class predictions scored against ``Prediction.y_true``.

    Parameters
    ----------
    n_classes : int
        Number of classes ``C``.
    class_names : sequence of str, optional
        ``C`` names, copied into the reports.

    Returns
    -------
    callable
        ``score(prediction) -> dict``: the
        :func:`~affectkit.evaluation.metrics.classification_report` of the items with a
        label (``y_true >= 0``), predicted as ``argmax(proba)`` (else ``pred``).
        Raises ``ValueError`` for a prediction without ``y_true`` or class outputs.
    """
    names = None if class_names is None else list(class_names)

    def score(p: Prediction) -> dict:
        if p.y_true is None or (p.proba is None and p.pred is None):
            raise ValueError("classification scoring needs y_true and proba or pred")
        y = np.asarray(p.y_true)
        pred = np.asarray(p.proba).argmax(1) if p.proba is not None else np.asarray(p.pred)
        keep = y >= 0
        return classification_report(y[keep], pred[keep], n_classes, class_names=names)

    return score
