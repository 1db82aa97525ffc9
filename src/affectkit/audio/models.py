"""Voice emotion classifiers on utterance-level functionals: the MLP of Vielzeuf et al.
(2018), a random forest, a linear SVM, and the MLP with source-task transfer of Ouyang
et al. (2017).

* Vielzeuf, Pateux & Jurie (2018), "An Occam's razor view on learning audiovisual
  emotion recognition with small training sets": openSMILE functionals into an MLP of
  one 64-unit hidden layer with batch normalisation, ReLU and dropout, or a random
  forest. :class:`VielzeufMLP` is that network; :class:`MLPClassifier` trains it behind
  a scikit-learn interface with the standardisation inside.
* Ouyang et al. (2017), "Audio-visual emotion recognition using deep transfer learning
  and multiple temporal models": an audio network pretrained on gender classification,
  then fine-tuned on emotion. :meth:`MLPClassifier.pretrain` trains the trunk on a
  source task; the next :meth:`MLPClassifier.fit` keeps that trunk and learns a new
  emotion head. In affectkit's EmoDB experiments the source task is speaker gender of
  the *training-fold* speakers (see :mod:`affectkit.audio.experiment`).

MLP models are saved as a safetensors state dict plus a JSON card (feature kind and
names, classes, standardisation, sample rate, window); no pickles, so loading runs no
code.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from torch import nn

AUDIO_MODELS = ("mlp", "transfer-mlp", "rf", "svm")
"""Model kinds of :func:`make_audio_model` (``transfer-mlp`` is an MLP to be pretrained)."""

AUDIO_CARD_VERSION = 1


class VielzeufMLP(nn.Module):
    """``Linear(D, H) - BatchNorm1d(H) - ReLU - Dropout(p) - Linear(H, C)`` (Vielzeuf et al. 2018).

    Parameters
    ----------
    in_features : int
        ``D``, the feature dimension.
    n_classes : int
        ``C``, the number of output classes.
    hidden : int
        ``H``, hidden units (64 in the paper).
    dropout : float
        Dropout probability after the ReLU.

    Notes
    -----
    ``trunk`` is everything up to the dropout, ``head`` the last linear layer, so a
    trunk pretrained on one task can take a new head (:meth:`MLPClassifier.pretrain`).
    ``forward`` maps ``(B, D)`` ``float32`` to ``(B, C)`` logits.
    """

    def __init__(self, in_features: int, n_classes: int, hidden: int = 64, dropout: float = 0.5):
        super().__init__()
        self.trunk = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))


def _standardise_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(0)
    std = x.std(0)
    std[std < 1e-8] = 1.0  # constant features pass through as 0
    return mean.astype(np.float64), std.astype(np.float64)


class MLPClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn style trainer of :class:`VielzeufMLP` (Vielzeuf et al. 2018).

    Features are standardised inside (mean/std of the training data), training uses
    Adam on a class-weighted cross-entropy (weights inversely proportional to class
    frequency, so the loss targets UAR), and everything random (initialisation,
    shuffling, dropout, validation split) follows ``seed`` without touching torch's
    global random state.

    Parameters
    ----------
    hidden : int
        Hidden units.
    dropout : float
        Dropout probability.
    lr : float
        Adam learning rate.
    weight_decay : float
        Adam L2 penalty.
    epochs : int
        Passes over the training data (the maximum with early stopping).
    batch_size : int
    early_stopping : bool
        Hold out ``val_fraction`` of the training data (whole speakers when ``fit`` gets
        ``groups``) and keep the weights of the epoch with the lowest validation loss;
        stop after ``patience`` epochs without improvement.
    val_fraction : float
    patience : int
    class_weight : {"balanced", None}
    trunk_lr_scale : float
        Learning-rate multiplier of the trunk when fine-tuning after :meth:`pretrain`
        (1.0: the whole network is fine-tuned, as Ouyang et al. 2017; 0.0 freezes its
        weights and batch-norm statistics).
    seed : int

    Attributes
    ----------
    classes_ : np.ndarray
        ``(C,)`` class labels seen by :meth:`fit`, the column order of
        :meth:`predict_proba`.
    net_ : VielzeufMLP
        The trained network (eval mode).
    mean_, std_ : np.ndarray
        ``(D,)`` ``float64`` standardisation.
    pretrained_ : bool
        True after :meth:`pretrain` (and stays True after the fine-tuning ``fit``).
    """

    def __init__(self, hidden: int = 64, dropout: float = 0.5, lr: float = 1e-3, weight_decay: float = 1e-3,
                 epochs: int = 100, batch_size: int = 32, early_stopping: bool = False, val_fraction: float = 0.15,
                 patience: int = 20, class_weight: str | None = "balanced", trunk_lr_scale: float = 1.0,
                 seed: int = 0):
        self.hidden = hidden
        self.dropout = dropout
        self.lr = lr
        self.weight_decay = weight_decay
        self.epochs = epochs
        self.batch_size = batch_size
        self.early_stopping = early_stopping
        self.val_fraction = val_fraction
        self.patience = patience
        self.class_weight = class_weight
        self.trunk_lr_scale = trunk_lr_scale
        self.seed = seed

    # -- training -----------------------------------------------------------------

    def _train(self, net: VielzeufMLP, x: np.ndarray, y: np.ndarray, groups, trunk_scale: float, seed: int) -> None:
        """Train ``net`` in place on standardised ``x`` and class indices ``y``."""
        rng = np.random.default_rng(seed)
        tr, va = np.arange(len(y)), np.zeros(0, dtype=np.int64)
        if self.early_stopping:
            tr, va = _validation_split(y, groups, self.val_fraction, seed)
        n_classes = net.head.out_features
        weight = None
        if self.class_weight == "balanced":
            counts = np.bincount(y[tr], minlength=n_classes).astype(np.float64)
            weight = torch.tensor(np.where(counts > 0, len(tr) / (n_classes * np.maximum(counts, 1)), 0.0),
                                  dtype=torch.float32)
        loss_fn = nn.CrossEntropyLoss(weight=weight)
        groups_ = [{"params": net.head.parameters(), "lr": self.lr}]
        if trunk_scale > 0:
            groups_.append({"params": net.trunk.parameters(), "lr": self.lr * trunk_scale})
        else:
            net.trunk.requires_grad_(False)
        opt = torch.optim.Adam(groups_, lr=self.lr, weight_decay=self.weight_decay, foreach=True)
        xt, yt = torch.from_numpy(x.astype(np.float32)), torch.from_numpy(y.astype(np.int64))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # a 64-unit net: more threads only add contention
        try:
            self._epochs(net, opt, loss_fn, xt, yt, tr, va, rng, trunk_scale)
        finally:
            torch.set_num_threads(threads)
        net.trunk.requires_grad_(True)
        net.eval()

    def _epochs(self, net, opt, loss_fn, xt, yt, tr, va, rng, trunk_scale) -> None:
        best, best_loss, stale = None, float("inf"), 0
        for _ in range(self.epochs):
            net.train()
            if trunk_scale <= 0:
                net.trunk.eval()  # frozen: batch-norm statistics stay those of the source task
            order = rng.permutation(tr)
            for start in range(0, len(order), self.batch_size):
                idx = order[start: start + self.batch_size]
                if len(idx) < 2:  # BatchNorm needs two samples; drop a lone remainder
                    continue
                opt.zero_grad()
                loss_fn(net(xt[idx]), yt[idx]).backward()
                opt.step()
            if len(va):
                net.eval()
                with torch.no_grad():
                    val_loss = float(loss_fn(net(xt[va]), yt[va]))
                if val_loss < best_loss - 1e-4:
                    best, best_loss, stale = copy.deepcopy(net.state_dict()), val_loss, 0
                else:
                    stale += 1
                    if stale >= self.patience:
                        break
        if best is not None:
            net.load_state_dict(best)

    def pretrain(self, X: np.ndarray, y_source: Sequence, groups: Sequence | None = None) -> "MLPClassifier":
        """Train the network on a source task; the next :meth:`fit` fine-tunes its trunk.

        Transfer as Ouyang et al. (2017): a network learnt on a labelled speech task
        (there, gender) initialises the emotion network, whose output layer is new.
        The standardisation is fitted here and kept by the fine-tuning, since the
        trunk was learnt on that scale.

        Parameters
        ----------
        X : np.ndarray
            ``(N, D)`` float source-task features.
        y_source : array-like
            ``(N,)`` source labels (any hashable values, e.g. ``"m"``/``"f"``).
        groups : array-like, optional
            ``(N,)`` speakers, for a speaker-disjoint early-stopping split.

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        ValueError
            If the source task has fewer than two classes or shapes disagree.
        """
        X = np.asarray(X, dtype=np.float64)
        source_classes, ys = np.unique(np.asarray(y_source), return_inverse=True)
        if len(source_classes) < 2 or len(ys) != len(X):
            raise ValueError(f"pretrain needs >= 2 source classes and one label per row, got "
                             f"{len(source_classes)} classes, {len(ys)} labels for {len(X)} rows")
        self.mean_, self.std_ = _standardise_stats(X)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 7919)  # a different stream from the fine-tuning's
            net = VielzeufMLP(X.shape[1], len(source_classes), self.hidden, self.dropout)
            self._train(net, (X - self.mean_) / self.std_, ys, groups, 1.0, self.seed + 7919)
        self.trunk_state_ = copy.deepcopy(net.trunk.state_dict())
        self.source_classes_ = source_classes
        self.pretrained_ = True
        return self

    def fit(self, X: np.ndarray, y: Sequence, groups: Sequence | None = None) -> "MLPClassifier":
        """Train on emotion labels (fine-tuning the pretrained trunk if :meth:`pretrain` ran).

        Parameters
        ----------
        X : np.ndarray
            ``(N, D)`` float features.
        y : array-like
            ``(N,)`` class labels.
        groups : array-like, optional
            ``(N,)`` speakers, for a speaker-disjoint early-stopping split.

        Returns
        -------
        MLPClassifier
            ``self``.

        Raises
        ------
        ValueError
            If shapes disagree, there are fewer than two classes, or the feature
            dimension differs from the pretraining's.
        """
        X = np.asarray(X, dtype=np.float64)
        self.classes_, yi = np.unique(np.asarray(y), return_inverse=True)
        if len(yi) != len(X) or len(self.classes_) < 2:
            raise ValueError(f"fit needs one label per row and >= 2 classes, got {len(yi)} labels for {len(X)} rows "
                             f"and {len(self.classes_)} classes")
        pretrained = getattr(self, "pretrained_", False)
        if pretrained:
            if X.shape[1] != len(self.mean_):
                raise ValueError(f"pretrained on {len(self.mean_)} features, fit got {X.shape[1]}")
        else:
            self.mean_, self.std_ = _standardise_stats(X)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            net = VielzeufMLP(X.shape[1], len(self.classes_), self.hidden, self.dropout)
            if pretrained:
                net.trunk.load_state_dict(self.trunk_state_)
            self._train(net, (X - self.mean_) / self.std_, yi, groups,
                        self.trunk_lr_scale if pretrained else 1.0, self.seed)
        self.net_ = net
        self.n_features_in_ = X.shape[1]
        return self

    # -- inference ----------------------------------------------------------------

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """Class logits (the network's outputs before the softmax).

        Parameters
        ----------
        X : np.ndarray
            ``(M, D)`` float features.

        Returns
        -------
        np.ndarray
            ``(M, C)`` ``float64`` logits, columns in ``classes_`` order; what
            temperature scaling divides (:mod:`affectkit.audio.calibration`).
        """
        x = (np.asarray(X, dtype=np.float64) - self.mean_) / self.std_
        self.net_.eval()
        with torch.no_grad():
            return self.net_(torch.from_numpy(x.astype(np.float32))).double().numpy()

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (uncalibrated softmax of :meth:`predict_logits`).

        Parameters
        ----------
        X : np.ndarray
            ``(M, D)`` float features.

        Returns
        -------
        np.ndarray
            ``(M, C)`` ``float64`` softmax probabilities, columns in ``classes_`` order.
        """
        x = (np.asarray(X, dtype=np.float64) - self.mean_) / self.std_
        self.net_.eval()
        with torch.no_grad():
            return torch.softmax(self.net_(torch.from_numpy(x.astype(np.float32))), 1).double().numpy()

    def predict(self, X: np.ndarray) -> np.ndarray:
        """``(M,)`` predicted labels (values of ``classes_``)."""
        return self.classes_[self.predict_proba(X).argmax(1)]


def _validation_split(y: np.ndarray, groups, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Train/validation indices: whole groups when given, else stratified by class."""
    from sklearn.model_selection import GroupShuffleSplit, train_test_split

    idx = np.arange(len(y))
    if groups is not None and len(np.unique(groups)) >= 3:
        tr, va = next(GroupShuffleSplit(1, test_size=fraction, random_state=seed).split(idx, y, np.asarray(groups)))
        return tr, va
    counts = np.bincount(y)
    strat = y if counts[counts > 0].min() >= 2 else None
    tr, va = train_test_split(idx, test_size=fraction, random_state=seed, stratify=strat)
    return tr, va


def make_audio_model(kind: str, seed: int = 0, **params):
    """A fresh, unfitted voice-emotion classifier.

    Parameters
    ----------
    kind : {"mlp", "transfer-mlp", "rf", "svm"}
        ``mlp``: :class:`MLPClassifier` (Vielzeuf et al. 2018); ``transfer-mlp`` the
        same, meant to be :meth:`~MLPClassifier.pretrain`-ed first (Ouyang et al.
        2017); ``rf``: affectkit's 300-tree random forest head behind a standard scaler
        (:func:`affectkit.training.features.make_head`, as Vielzeuf et al.'s RF
        baseline); ``svm``: standard scaler + linear SVM (class-balanced, Platt
        probabilities; deterministic, so the seed changes nothing), the classic
        functionals baseline (Schuller et al. 2009).
    seed : int
        Random state.
    **params
        Overrides: :class:`MLPClassifier` arguments for the MLPs; ``C`` for the SVM.

    Returns
    -------
    estimator
        scikit-learn compatible: ``fit(X, y)``, ``predict_proba(X)``, ``classes_``.

    Raises
    ------
    ValueError
        Unknown kind, or parameters for a kind that takes none.
    """
    if kind in ("mlp", "transfer-mlp"):
        return MLPClassifier(seed=seed, **params)
    if kind == "rf":
        if params:
            raise ValueError(f"the rf model takes no parameters, got {sorted(params)}")
        from affectkit.training.features import make_head

        return make_head("rf", "classes", seed)
    if kind == "svm":
        from sklearn.calibration import CalibratedClassifierCV
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
        from sklearn.svm import SVC

        c = params.pop("C", 0.01)
        if params:
            raise ValueError(f"the svm model takes only C, got {sorted(params)}")
        # Platt-scaled probabilities from 5-fold cross-validation, one SVM refitted on all
        # data (scikit-learn's replacement for the deprecated SVC(probability=True))
        svm = SVC(kernel="linear", C=c, class_weight="balanced")
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, ensemble=False, cv=5))
    raise ValueError(f"audio model must be one of {AUDIO_MODELS}, got {kind!r}")


# ------------------------------------------------------------------------ save / load


def audio_card_path(path: str | Path) -> Path:
    """The JSON card beside a ``.safetensors`` audio model (same stem; see
    :func:`affectkit.models.card.card_path`)."""
    from affectkit.models.card import card_path

    return card_path(path)


def save_audio_model(
    model: MLPClassifier,
    path: str | Path,
    *,
    feature_kind: str,
    feature_names: Sequence[str],
    class_names: Sequence[str],
    sample_rate: int = 16000,
    window_s: float | None = None,
    speaker_norm: bool = False,
    training: dict | None = None,
    calibration: dict | None = None,
) -> Path:
    """Save a fitted :class:`MLPClassifier` as ``path`` (safetensors) plus ``path.json`` (card).

    Both files are written atomically (temporary file in the same folder, then
    ``os.replace``). Only the MLP is saved this way: forests and SVMs have no tensor
    form, and affectkit does not write pickles.

    Parameters
    ----------
    model : MLPClassifier
        Fitted; ``classes_`` must be class ids ``0..C-1`` indexing ``class_names``.
    path : str or Path
        Destination ``.safetensors`` file.
    feature_kind : str
        ``"librosa"``, ``"egemaps"`` or ``"compare"`` (:mod:`affectkit.audio.features`).
    feature_names : sequence of str
        ``D`` feature names, in input column order.
    class_names : sequence of str
        Names of all classes of the training corpus.
    sample_rate : int
        Hz, audio is resampled to before feature extraction.
    window_s : float, optional
        Seconds of audio per prediction when applied to long tracks (None: whole
        utterances).
    speaker_norm : bool
        Whether features were z-scored per speaker before training (then inputs must
        be normalised the same way).
    training : dict, optional
        Provenance (data, protocol, source task, command), stored under ``"training"``.
    calibration : dict, optional
        Stored under ``"calibration"``: for temperature scaling (Guo et al. 2017)
        ``{"method": "temperature", "temperature": T, ...}`` as
        :func:`affectkit.audio.calibration.calibration_record` makes it; readers divide
        the logits by ``T`` (:class:`affectkit.audio.voice.VoiceTrack`).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    TypeError
        If ``model`` is not a fitted :class:`MLPClassifier`.
    ValueError
        If the feature names or class ids do not match the model, or ``calibration``
        is a temperature record whose temperature is not a finite number > 0.
    """
    from safetensors.torch import save_file

    from affectkit.io.write import atomic_path, write_json_atomic

    if not isinstance(model, MLPClassifier) or not hasattr(model, "net_"):
        raise TypeError(f"save_audio_model saves a fitted MLPClassifier, got {type(model).__name__}")
    if len(feature_names) != model.n_features_in_:
        raise ValueError(f"{len(feature_names)} feature names for a model of {model.n_features_in_} inputs")
    classes = [int(c) for c in model.classes_]
    if min(classes) < 0 or max(classes) >= len(class_names):
        raise ValueError(f"model classes {classes} do not index the {len(class_names)} class names")
    if calibration and calibration.get("method") == "temperature":
        t = calibration.get("temperature")
        if not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0:
            raise ValueError(f"calibration temperature must be a finite number > 0, got {t!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().cpu() for k, v in model.net_.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "affectkit_card": audio_card_path(path).name})
    card = {
        "card_version": AUDIO_CARD_VERSION,
        "name": path.stem,
        "kind": "voice",
        "modality": "audio",
        "architecture": {"class": "affectkit.audio.models.VielzeufMLP", "in_features": int(model.n_features_in_),
                         "hidden": int(model.hidden), "dropout": float(model.dropout), "n_outputs": len(classes)},
        "features": {"kind": feature_kind, "names": list(feature_names), "sample_rate": int(sample_rate),
                     "window_s": window_s, "speaker_norm": bool(speaker_norm)},
        "standardisation": {"mean": model.mean_.tolist(), "std": model.std_.tolist()},
        "class_names": list(class_names),
        "output_classes": classes,
        "hyperparameters": model.get_params(),
        "pretrained_source_classes": [str(c) for c in getattr(model, "source_classes_", [])],
        "training": training or {},
    }
    if calibration:
        card["calibration"] = dict(calibration)
    if feature_kind in ("egemaps", "compare"):
        card["licence_note"] = "features from openSMILE: its licence forbids commercial use"
    write_json_atomic(audio_card_path(path), card)
    return path


def load_audio_model(path: str | Path) -> tuple[MLPClassifier, dict]:
    """Load a model written by :func:`save_audio_model`.

    Parameters
    ----------
    path : str or Path
        The ``.safetensors`` file; its card (a voice model card) is the ``.json``
        beside it.

    Returns
    -------
    model : MLPClassifier
        Ready for ``predict_proba`` (eval mode, CPU); same predictions as when saved.
    card : dict
        See :func:`affectkit.models.card.read_card`.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if either file is missing or
        unreadable, the card is malformed, of another version or of another kind of
        model (e.g. a face model), or the weights do not match the card.
    """
    from affectkit.models.card import read_card
    from affectkit.models.weights import load_weights_into, read_weights

    path = Path(path)
    card = read_card(path, kind="voice")
    state = read_weights(path)
    arch = card["architecture"]
    params = {k: v for k, v in card.get("hyperparameters", {}).items() if k in MLPClassifier().get_params()}
    model = MLPClassifier(**params)
    model.net_ = VielzeufMLP(arch["in_features"], arch["n_outputs"], arch["hidden"], arch["dropout"])
    load_weights_into(model.net_, state, path, "VielzeufMLP")
    model.net_.eval()
    model.mean_ = np.asarray(card["standardisation"]["mean"], dtype=np.float64)
    model.std_ = np.asarray(card["standardisation"]["std"], dtype=np.float64)
    model.classes_ = np.asarray(card["output_classes"], dtype=np.int64)
    model.n_features_in_ = int(arch["in_features"])
    return model, card
