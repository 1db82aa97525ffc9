"""Speaker-independent voice-emotion experiments: features, model, protocol, seeds, report.

The audio counterpart of :func:`affectkit.training.experiment.run_experiment`, run by
the same experiment runner (:func:`affectkit.evaluation.runner.run`: the protocol's
folds, pooling, mean ± std over seeds and the seed ensemble), scored with
:func:`~affectkit.evaluation.metrics.classification_report` (accuracy and UAR) and
written with :func:`~affectkit.evaluation.report.write_report`. Every protocol works:
``loso`` and ``kfold:K`` by speaker within a corpus, and ``split``: train on one
corpus (or recording set), test on another (voice corpora have no official test split,
so ``split`` needs the test set given).

Speaker normalisation
---------------------
With ``speaker_norm=True`` every feature is z-scored per speaker, using the mean and
standard deviation of *all* of that speaker's recordings and no label. For the test
speaker this is transductive: it needs that speaker's unlabelled recordings (all of
them at once) at test time. It is the standard step in EmoDB leave-one-speaker-out work
(e.g. Schuller et al. 2009, "Acoustic emotion recognition: a benchmark comparison of
performances"), and is reported both with and without.

Transfer (``model="transfer-mlp"``)
-----------------------------------
As Ouyang et al. (2017) transfer an audio network trained for gender classification,
each fold first pretrains the MLP trunk on speaker gender, using only the training
fold's recordings and speakers (never the test speaker), then fine-tunes it with a new
head on emotion. Source task and data are recorded in the report.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.audio.dataset import AudioSet
from affectkit.errors import ProtocolError
from affectkit.evaluation.protocols import PROTOCOLS, format_mean_std, parse_protocol  # noqa: F401  (PROTOCOLS re-exported)
from affectkit.evaluation.report import write_report
from affectkit.evaluation.runner import Prediction, classification_scorer, run


def speaker_normalize(features: np.ndarray, speakers: Sequence[str]) -> np.ndarray:
    """Z-score every feature within each speaker (label-free, transductive per speaker).

    Parameters
    ----------
    features : np.ndarray
        ``(N, D)`` float features.
    speakers : sequence of str
        ``(N,)`` speaker ids.

    Returns
    -------
    np.ndarray
        ``(N, D)`` ``float32``; per speaker each column has mean 0 and standard
        deviation 1 (columns constant within a speaker become 0).

    Raises
    ------
    ValueError
        If the lengths differ.
    """
    x = np.asarray(features, dtype=np.float64)
    g = np.asarray(speakers)
    if len(g) != len(x):
        raise ValueError(f"{len(g)} speaker ids for {len(x)} feature rows")
    out = np.empty_like(x)
    for spk in np.unique(g):
        m = g == spk
        std = x[m].std(0)
        out[m] = (x[m] - x[m].mean(0)) / np.where(std > 1e-8, std, 1.0)
    return out.astype(np.float32)


def _full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Spread ``(M, len(classes))`` probabilities over all ``n_classes`` columns."""
    out = np.zeros((len(proba), n_classes))
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return out


def _align_labels(test: AudioSet, class_names: tuple[str, ...]) -> tuple[np.ndarray, dict[str, int]]:
    """``test``'s labels renumbered into ``class_names`` (by name); ``-1`` for the classes
    not among them, whose counts are returned too."""
    lookup = {name: i for i, name in enumerate(class_names)}
    labels = np.array([lookup.get(test.class_names[c], -1) if c >= 0 else -1 for c in test.labels], dtype=np.int64)
    dropped = {test.class_names[c]: int((test.labels == c).sum()) for c in np.unique(test.labels[test.labels >= 0])
               if test.class_names[c] not in lookup}
    return labels, dropped


def _features_of(audioset: AudioSet, features: str | np.ndarray, n_jobs: int, what: str) -> np.ndarray:
    """The ``(N, D)`` float32 feature rows of ``audioset``: extracted (and cached) for a kind, else checked."""
    from affectkit.audio.features import extract_features

    if isinstance(features, str):
        return extract_features(audioset, features, n_jobs=n_jobs)
    x = np.asarray(features, dtype=np.float32)
    if len(x) != len(audioset):
        raise ValueError(f"{what} have {len(x)} rows for {len(audioset)} recordings")
    return x


def run_audio_experiment(
    audioset: AudioSet,
    features: str | np.ndarray = "librosa",
    model: str = "mlp",
    protocol: str = "loso",
    seeds: Sequence[int] = (0, 1, 2),
    speaker_norm: bool = True,
    out_dir: str | Path | None = None,
    *,
    test: AudioSet | None = None,
    test_features: np.ndarray | None = None,
    model_params: dict | None = None,
    tune: dict[str, Sequence] | None = None,
    n_jobs: int = 1,
    command: str = "",
    title: str = "",
) -> dict:
    """Evaluate a voice-emotion model speaker-independently over several seeds.

    Parameters
    ----------
    audioset : AudioSet
        Labelled recordings with speaker ids (unlabelled rows are dropped); the training
        set of ``split``, the pool the folds of ``loso``/``kfold:K`` are drawn from.
    features : str or np.ndarray
        A feature kind of :func:`affectkit.audio.features.extract_features`
        (``"librosa"``, ``"egemaps"``, ``"compare"``; extracted and cached), or a
        precomputed ``(N, D)`` float array aligned with ``audioset``.
    model : {"mlp", "transfer-mlp", "rf", "svm"}
        See :func:`affectkit.audio.models.make_audio_model`. ``mlp`` is the MLP of
        Vielzeuf et al. (2018), ``transfer-mlp`` the same pretrained on speaker gender
        first (Ouyang et al. 2017); ``rf`` and ``svm`` are classic baselines.
    protocol : {"loso", "kfold:K", "split"}
        Leave-one-speaker-out; speaker-independent stratified K-fold (new folds per
        seed); or ``split``: train on ``audioset``, test on ``test`` (e.g. another
        corpus: a cross-corpus evaluation).
    seeds : sequence of int
        One full cross-validation (or training, for ``split``) per seed.
    speaker_norm : bool
        Z-score features per speaker first (:func:`speaker_normalize`; for ``split``,
        the test set's speakers over the test set's recordings).
    out_dir : str or Path, optional
        Write ``report.json``, ``report.md`` and ``confusion.png`` there.
    test : AudioSet, optional
        ``split`` only, and required there: the test recordings. Their classes are
        matched to ``audioset``'s by name; recordings of classes the training set lacks
        are not scored (counted in ``config["test"]["dropped"]``).
    test_features : np.ndarray, optional
        ``(N_test, D)`` float features of ``test``, when ``features`` is an array.
    model_params : dict, optional
        Keyword arguments of :func:`~affectkit.audio.models.make_audio_model`.
    tune : dict, optional
        Parameter grid (e.g. ``{"C": [0.001, 0.01, 0.1]}`` for ``svm``), chosen per
        outer fold by an inner leave-one-speaker-out over the training speakers only,
        maximising UAR; the test speaker is never used for tuning. Not for
        ``transfer-mlp``.
    n_jobs : int
        Workers for feature extraction and the inner tuning folds.
    command : str
        The command line, stored in the report.
    title : str
        Heading of ``report.md``.

    Returns
    -------
    dict
        ``config`` (with ``test``: the test set's corpus, size and speakers, for
        ``split``); ``command``; ``seeds`` (per seed: the pooled
        out-of-fold classification report, with ``folds`` = mean ± std over folds for
        ``loso``/``kfold:K`` and, with ``tune``, the chosen parameters per fold);
        ``summary`` (mean ± std over seeds,
        :func:`~affectkit.evaluation.protocols.summarize_seeds`); ``ensemble`` (report
        of the seeds' mean probabilities, for more than one seed); ``pooled`` (the
        ensemble, or the single seed); ``headline`` (UAR and accuracy as "mean ± std"
        percentages and the ensemble's); ``feature_names``; ``seconds``; ``oof_proba``
        (``(N_scored, C)`` mean probabilities over seeds of the scored rows, in row
        order: the labelled rows of ``audioset`` out of fold, or of ``test`` for
        ``split``; not written to the files). Reports are those of
        :func:`~affectkit.evaluation.metrics.classification_report` (``uar``,
        ``accuracy``, ``recall``, ``confusion``, ...).

    Raises
    ------
    ProtocolError
        A malformed protocol, or ``split`` without ``test``.
    ValueError
        No labelled rows, missing speaker (or, for ``transfer-mlp``, gender) ids, a
        feature array of the wrong length, an unknown model, or ``tune`` with
        ``transfer-mlp``.
    InputError, ImportError
        From feature extraction (bad audio file; openSMILE missing).
    """
    from affectkit.audio.features import feature_names
    from affectkit.audio.models import AUDIO_MODELS, make_audio_model

    t0 = time.time()
    proto = parse_protocol(protocol)
    if model not in AUDIO_MODELS:
        raise ValueError(f"model must be one of {AUDIO_MODELS}, got {model!r}")
    if tune and model == "transfer-mlp":
        raise ValueError("tune is not supported for transfer-mlp (pretraining runs inside each fold)")
    if proto.kind == "split" and test is None:
        raise ProtocolError("the split protocol needs a test set (test=..., or --test-data KIND:PATH); "
                            "voice corpora have no official test split")
    x_all = _features_of(audioset, features, n_jobs, "features")
    kind, names = (features, list(feature_names(features))) if isinstance(features, str) else ("array", [])
    keep = np.flatnonzero(audioset.labels >= 0)
    if len(keep) == 0:
        raise ValueError("run_audio_experiment needs labelled recordings")
    data = audioset.subset(keep)
    x, y = x_all[keep], data.labels
    g = np.asarray(data.subjects)
    if (g == "").any():
        raise ValueError("speaker-independent protocols need a speaker id for every recording")
    if speaker_norm:
        x = speaker_normalize(x, g)
    genders = np.asarray(data.genders)
    n_classes = len(data.class_names)
    config_test = None
    split = None
    if proto.kind == "split":
        if not isinstance(features, str) and test_features is None:
            raise ValueError("features is an array: give test_features, the test recordings' features, too")
        xt_all = _features_of(test, features if isinstance(features, str) else test_features, n_jobs, "test_features")
        yt_all, dropped = _align_labels(test, data.class_names)
        tkeep = np.flatnonzero(yt_all >= 0)
        if len(tkeep) == 0:
            raise ValueError("the test set has no recording of a training class")
        tdata = test.subset(tkeep)
        xt, gt = xt_all[tkeep], np.asarray(tdata.subjects)
        if speaker_norm:
            if (gt == "").any():
                raise ValueError("speaker normalisation needs a speaker id for every test recording")
            xt = speaker_normalize(xt, gt)
        split = (np.arange(len(y)), np.arange(len(y), len(y) + len(tkeep)))
        x, y = np.concatenate([x, xt]), np.concatenate([y, yt_all[tkeep]])
        g, genders = np.concatenate([g, gt]), np.concatenate([genders, np.asarray(tdata.genders)])
        config_test = {"corpus": test.meta.get("corpus", ""), "n": int(len(tkeep)),
                       "speakers": int(len(np.unique(gt))), "dropped": dropped}
    if model == "transfer-mlp" and (genders[: len(data)] == "").any():
        raise ValueError("transfer-mlp pretrains on speaker gender, and some recordings have no gender")
    params = dict(model_params or {})

    def make(seed: int, chosen: list):
        est = make_audio_model(model, seed, **params)
        if not tune:
            return est
        from sklearn.model_selection import GridSearchCV, LeaveOneGroupOut

        prefix = ""
        if hasattr(est, "steps"):  # a scaler + model pipeline; the SVM sits inside a calibrator
            last = est.steps[-1][1]
            prefix = f"{est.steps[-1][0]}__" + ("estimator__" if "estimator" in last.get_params(deep=False) else "")
        grid = {f"{prefix}{k}": list(v) for k, v in tune.items()}
        search = GridSearchCV(est, grid, scoring="balanced_accuracy", cv=LeaveOneGroupOut(), n_jobs=n_jobs)
        chosen.append(search)
        return search

    chosen: dict[int, list] = {}

    def fit_predict(tr: np.ndarray, te: np.ndarray, seed: int, fold: int) -> Prediction:
        est = make(seed, chosen.setdefault(seed, []))
        if model == "transfer-mlp":
            # source task: gender of the training-fold speakers only
            est.pretrain(x[tr], genders[tr], groups=g[tr])
        if tune:
            with warnings.catch_warnings():
                # an inner test speaker may lack a class; its UAR is then over the classes it has
                warnings.filterwarnings("ignore", "y_pred contains classes not in y_true")
                est.fit(x[tr], y[tr], groups=g[tr])
        elif model in ("mlp", "transfer-mlp"):
            est.fit(x[tr], y[tr], groups=g[tr])
        else:
            est.fit(x[tr], y[tr])
        return Prediction(proba=_full_proba(est.predict_proba(x[te]), est.classes_, n_classes), y_true=y[te])

    def tuned(seed: int) -> dict:
        if not tune:
            return {}
        return {"tuned": [{k.split("__")[-1]: v for k, v in s.best_params_.items()} for s in chosen.get(seed, [])]}

    config = {
        "corpus": data.meta.get("corpus", ""), "n": int(len(data)), "speakers": int(len(np.unique(g[: len(data)]))),
        "classes": list(data.class_names), "features": kind, "n_features": int(x.shape[1]),
        "model": model, "model_params": params, "tune": {k: list(v) for k, v in (tune or {}).items()},
        "protocol": str(proto), "seeds": [int(s) for s in seeds], "speaker_norm": bool(speaker_norm),
        "transfer_source": ("speaker gender (m/f) of the training-fold recordings of the same corpus"
                            if model == "transfer-mlp" else None),
    }
    if config_test is not None:
        config["test"] = config_test
    result = run(proto, [int(s) for s in seeds], fit_predict, classification_scorer(n_classes, data.class_names),
                 groups=None if split else g, stratify=None if split else y, split=split, run_info=tuned,
                 config=config, extra={"command": command})
    report = result.to_dict()
    summary, pooled = result.summary, result.pooled
    if result.ensemble is None:  # voice reports give the single seed's headline without its seed
        report["pooled"] = {k: v for k, v in pooled.items() if k != "seed"}
    report["headline"] = {
        "uar": format_mean_std(summary["uar"]), "accuracy": format_mean_std(summary["accuracy"]),
        "ensemble_uar": f"{pooled['uar'] * 100:.2f}", "ensemble_accuracy": f"{pooled['accuracy'] * 100:.2f}",
    }
    report["feature_names"] = names
    report["seconds"] = round(time.time() - t0, 1)
    # the ensemble's probabilities, row order of the scored rows
    report["oof_proba"] = np.mean([p.proba for p in result.predictions], axis=0)
    if out_dir is not None:
        write_report({k: v for k, v in report.items() if k != "oof_proba"}, out_dir,
                     class_names=list(data.class_names),
                     title=title or f"{model} on {kind} features, {data.meta.get('corpus', 'audio')} ({proto})")
    return report


def loso_logits(
    features: np.ndarray,
    labels: Sequence[int],
    speakers: Sequence[str],
    *,
    model: str = "mlp",
    seed: int = 0,
    model_params: dict | None = None,
) -> np.ndarray:
    """Out-of-fold logits of an MLP voice model under leave-one-speaker-out.

    Each speaker's recordings are scored by a model trained on the other speakers only,
    with the same recipe as :func:`run_audio_experiment` (and as the exported model:
    :func:`affectkit.audio.models.make_audio_model` with ``seed``, trained with the
    speakers as ``groups``). These are the held-out predictions a temperature is fitted
    on (:func:`affectkit.audio.calibration.calibration_record`; Guo et al. 2017).

    Parameters
    ----------
    features : np.ndarray
        ``(N, D)`` float features (already speaker-normalised if the recipe is).
    labels : sequence of int
        ``(N,)`` class indices ``0..C-1``; every training fold must hold every class.
    speakers : sequence of str
        ``(N,)`` speaker ids (at least two speakers).
    model : {"mlp", "transfer-mlp"}
        ``transfer-mlp`` needs gender labels and is not supported here.
    seed : int
    model_params : dict, optional
        :class:`~affectkit.audio.models.MLPClassifier` arguments.

    Returns
    -------
    np.ndarray
        ``(N, C)`` ``float64`` logits, row order of the input.

    Raises
    ------
    ValueError
        If ``model`` is not ``"mlp"``, the lengths differ, there are fewer than two
        speakers, or a training fold lacks a class.
    """
    from affectkit.audio.models import make_audio_model
    from affectkit.evaluation.protocols import leave_one_subject_out

    if model != "mlp":
        raise ValueError(f"loso_logits supports the mlp model, not {model!r}")
    x = np.asarray(features, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64)
    g = np.asarray(speakers)
    if not len(x) == len(y) == len(g):
        raise ValueError(f"{len(x)} feature rows, {len(y)} labels and {len(g)} speaker ids")
    n_classes = int(y.max()) + 1
    out = np.full((len(y), n_classes), np.nan)
    for tr, te in leave_one_subject_out(g):
        est = make_audio_model("mlp", seed, **(model_params or {}))
        est.fit(x[tr], y[tr], groups=g[tr])
        if len(est.classes_) != n_classes:
            raise ValueError(f"the fold without speaker {g[te][0]!r} lacks a class; logits need all {n_classes}")
        out[te] = est.predict_logits(x[te])
    return out
