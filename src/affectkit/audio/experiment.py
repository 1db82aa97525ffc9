"""Speaker-independent voice-emotion experiments: features, model, protocol, seeds, report.

The audio counterpart of :func:`affectkit.training.experiment.run_experiment`, built
on the same evaluation code (:mod:`affectkit.evaluation.protocols` for the folds,
pooling, mean ± std over seeds and the seed ensemble;
:func:`~affectkit.evaluation.metrics.classification_report` for accuracy and UAR;
:func:`~affectkit.evaluation.report.write_report` for the files).

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

PROTOCOLS = ("loso", "kfold:K")


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


def _folds(protocol: str, speakers: np.ndarray, labels: np.ndarray, seed: int):
    from affectkit.evaluation.protocols import leave_one_subject_out, subject_kfold

    if protocol == "loso":
        return leave_one_subject_out(speakers)
    if protocol.startswith("kfold:"):
        return subject_kfold(speakers, int(protocol.split(":", 1)[1]), seed=seed, labels=labels)
    raise ValueError(f"protocol must be 'loso' or 'kfold:K', got {protocol!r}")


def _full_proba(proba: np.ndarray, classes: np.ndarray, n_classes: int) -> np.ndarray:
    """Spread ``(M, len(classes))`` probabilities over all ``n_classes`` columns."""
    out = np.zeros((len(proba), n_classes))
    out[:, np.asarray(classes, dtype=np.int64)] = proba
    return out


def run_audio_experiment(
    audioset: AudioSet,
    features: str | np.ndarray = "librosa",
    model: str = "mlp",
    protocol: str = "loso",
    seeds: Sequence[int] = (0, 1, 2),
    speaker_norm: bool = True,
    out_dir: str | Path | None = None,
    *,
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
        Labelled recordings with speaker ids (unlabelled rows are dropped).
    features : str or np.ndarray
        A feature kind of :func:`affectkit.audio.features.extract_features`
        (``"librosa"``, ``"egemaps"``, ``"compare"``; extracted and cached), or a
        precomputed ``(N, D)`` float array aligned with ``audioset``.
    model : {"mlp", "transfer-mlp", "rf", "svm"}
        See :func:`affectkit.audio.models.make_audio_model`. ``mlp`` is the MLP of
        Vielzeuf et al. (2018), ``transfer-mlp`` the same pretrained on speaker gender
        first (Ouyang et al. 2017); ``rf`` and ``svm`` are classic baselines.
    protocol : {"loso", "kfold:K"}
        Leave-one-speaker-out, or speaker-independent stratified K-fold (new folds per
        seed).
    seeds : sequence of int
        One full cross-validation per seed.
    speaker_norm : bool
        Z-score features per speaker first (:func:`speaker_normalize`).
    out_dir : str or Path, optional
        Write ``report.json``, ``report.md`` and ``confusion.png`` there.
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
        ``config``; ``command``; ``seeds`` (per seed: the pooled out-of-fold
        classification report, with ``folds`` = mean ± std over folds and, with
        ``tune``, the chosen parameters per fold); ``summary`` (mean ± std over seeds,
        :func:`~affectkit.evaluation.protocols.summarize_seeds`); ``ensemble`` (report
        of the seeds' mean probabilities, for more than one seed); ``pooled`` (the
        ensemble, or the single seed); ``headline`` (UAR and accuracy as "mean ± std"
        percentages and the ensemble's); ``feature_names``; ``seconds``; ``oof_proba``
        (``(N_labelled, C)`` mean out-of-fold probabilities over seeds, not written to
        the files). Reports are those of
        :func:`~affectkit.evaluation.metrics.classification_report` (``uar``,
        ``accuracy``, ``recall``, ``confusion``, ...).

    Raises
    ------
    ValueError
        No labelled rows, missing speaker (or, for ``transfer-mlp``, gender) ids, a
        feature array of the wrong length, an unknown model or protocol, or ``tune``
        with ``transfer-mlp``.
    InputError, ImportError
        From feature extraction (bad audio file; openSMILE missing).
    """
    from affectkit.audio.features import extract_features, feature_names
    from affectkit.audio.models import AUDIO_MODELS, make_audio_model
    from affectkit.evaluation.metrics import classification_report
    from affectkit.evaluation.protocols import cross_validate, ensemble, format_mean_std, summarize_seeds

    t0 = time.time()
    if model not in AUDIO_MODELS:
        raise ValueError(f"model must be one of {AUDIO_MODELS}, got {model!r}")
    if tune and model == "transfer-mlp":
        raise ValueError("tune is not supported for transfer-mlp (pretraining runs inside each fold)")
    if isinstance(features, str):
        x_all = extract_features(audioset, features, n_jobs=n_jobs)
        kind, names = features, list(feature_names(features))
    else:
        x_all = np.asarray(features, dtype=np.float32)
        kind, names = "array", []
        if len(x_all) != len(audioset):
            raise ValueError(f"features have {len(x_all)} rows for {len(audioset)} recordings")
    keep = np.flatnonzero(audioset.labels >= 0)
    if len(keep) == 0:
        raise ValueError("run_audio_experiment needs labelled recordings")
    data = audioset.subset(keep)
    x, y = x_all[keep], data.labels
    g = np.asarray(data.speakers)
    if (g == "").any():
        raise ValueError("speaker-independent protocols need a speaker id for every recording")
    if speaker_norm:
        x = speaker_normalize(x, g)
    genders = np.asarray(data.genders)
    if model == "transfer-mlp" and (genders == "").any():
        raise ValueError("transfer-mlp pretrains on speaker gender, and some recordings have no gender")
    n_classes = len(data.class_names)
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

    per_seed, probas = [], []
    for seed in seeds:
        chosen: list = []

        def fit_predict(tr: np.ndarray, te: np.ndarray, seed=seed, chosen=chosen) -> dict:
            est = make(seed, chosen)
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
            return {"proba": _full_proba(est.predict_proba(x[te]), est.classes_, n_classes)}

        folds = _folds(protocol, g, y, seed)
        cv = cross_validate(fit_predict, y, g, folds, n_classes=n_classes, class_names=list(data.class_names))
        rep = {**cv["pooled"], "folds": cv["summary"]}
        if tune:
            rep["tuned"] = [{k.split("__")[-1]: v for k, v in s.best_params_.items()} for s in chosen]
        per_seed.append({"seed": int(seed), **rep})
        order = np.argsort(cv["oof"]["index"])
        probas.append(cv["oof"]["proba"][order])

    summary = summarize_seeds([{k: v for k, v in r.items() if k not in ("seed", "tuned")} for r in per_seed])
    report: dict = {
        "config": {
            "corpus": data.meta.get("corpus", ""), "n": int(len(y)), "speakers": int(len(np.unique(g))),
            "classes": list(data.class_names), "features": kind, "n_features": int(x.shape[1]),
            "model": model, "model_params": params, "tune": {k: list(v) for k, v in (tune or {}).items()},
            "protocol": protocol, "seeds": [int(s) for s in seeds], "speaker_norm": bool(speaker_norm),
            "transfer_source": ("speaker gender (m/f) of the training-fold recordings of the same corpus"
                                if model == "transfer-mlp" else None),
        },
        "command": command,
        "seeds": per_seed,
        "summary": summary,
    }
    if len(probas) > 1:
        ens = ensemble(probas)
        report["ensemble"] = classification_report(y, ens.argmax(1), n_classes, class_names=list(data.class_names))
    report["pooled"] = report.get("ensemble") or {k: v for k, v in per_seed[0].items() if k != "seed"}
    report["headline"] = {
        "uar": format_mean_std(summary["uar"]), "accuracy": format_mean_std(summary["accuracy"]),
        "ensemble_uar": f"{report['pooled']['uar'] * 100:.2f}", "ensemble_accuracy":
        f"{report['pooled']['accuracy'] * 100:.2f}",
    }
    report["feature_names"] = names
    report["seconds"] = round(time.time() - t0, 1)
    report["oof_proba"] = np.mean(probas, axis=0)  # the ensemble's probabilities, row order of the labelled rows
    if out_dir is not None:
        from affectkit.evaluation.report import write_report

        write_report({k: v for k, v in report.items() if k != "oof_proba"}, out_dir,
                     class_names=list(data.class_names),
                     title=title or f"{model} on {kind} features, {data.meta.get('corpus', 'audio')} ({protocol})")
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
