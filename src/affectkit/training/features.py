"""Frozen-backbone transfer learning: tap a pretrained CNN, cache the features, fit a
classical head.

This is the feature-extraction strategy of the seed papers: Jin et al. feed VGG's
fc6/1000-d outputs to a temporal model, Ouyang et al. use fc6 and multi-layer
features, Vielzeuf et al. use the pooled penultimate embedding. Heads come from
scikit-learn, each behind a standard scaler.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from affectkit.data.faceset import FaceSet

HEADS = ("linear", "logistic", "svm", "rf", "mlp")
"""Head kinds: ridge (linear), logistic regression, RBF SVM, random forest, MLP."""


def _faces_key(faces: FaceSet) -> str:
    h = hashlib.md5()
    h.update(str(faces.images.shape).encode())
    h.update(faces.images[:: max(1, len(faces) // 64)].tobytes())
    h.update("|".join(faces.names).encode())
    return h.hexdigest()[:16]


def extract_features(
    faces: FaceSet,
    backbone: str,
    taps: Sequence[str] = ("penultimate",),
    *,
    input_size: int | None = None,
    batch_size: int = 128,
    weights: str | Path | None = None,
    pretrained: bool = True,
    cache: str | Path | None = None,
    progress: bool = False,
    init_seed: int = 0,
) -> dict[str, np.ndarray]:
    """Run a frozen ImageNet backbone over faces and return the tapped activations.

    Parameters
    ----------
    faces : FaceSet
        ``(N, S, S)`` grey or ``(N, S, S, 3)`` RGB ``uint8`` faces.
    backbone : str
        Registry name (:data:`affectkit.models.backbones.REGISTRY`).
    taps : sequence of str
        Tap names or module paths (see :class:`~affectkit.models.backbones.FeatureTaps`).
    input_size : int, optional
        Side, pixels, faces are resized to; default the weights' training size. It
        must be at least the backbone's smallest input side
        (:attr:`~affectkit.models.backbones.PreprocessConfig.min_size`).
    batch_size : int
    weights : str or Path, optional
        Local ImageNet weights file.
    pretrained : bool
        False gives random weights (a chance-level control, and tests), drawn from
        torch's generator seeded with ``init_seed`` (the global generator is left as it
        was), so the control is one fixed network, reproducible and cached as such.
    init_seed : int
        Seed of the random weights when ``pretrained`` is False.
    cache : str or Path, optional
        Folder for one ``.npy`` per (faces, backbone, tap, size); reused when present.
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    dict
        Tap name -> ``(N, D_tap)`` ``float32``.

    Raises
    ------
    UnknownNameError
        Unknown backbone or tap (also a ``KeyError`` and a ``ValueError``).
    ValueError
        ``input_size`` is not an integer, or is below the backbone's smallest input.
    WeightsError
        No ImageNet weights available, or ``weights`` cannot be read (see
        :func:`~affectkit.models.backbones.pretrained_state`).
    """
    from affectkit.models.backbones import FeatureTaps, backbone_spec

    if input_size is not None:
        smallest = backbone_spec(backbone).preprocess.min_size
        # An explicit size is never changed behind the user's back (FeatureTaps would raise it).
        if (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < smallest
                or input_size > 1024):
            raise ValueError(f"input_size must be a whole number of pixels from {smallest} to 1024 for {backbone}, "
                             f"got {input_size!r}")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(init_seed)  # random-init weights: one fixed network, not whatever the RNG held
        model = FeatureTaps(backbone, taps, input_size=input_size, pretrained=pretrained, weights=weights)
    feats: dict[str, np.ndarray] = {}
    files: dict[str, Path] = {}
    if cache is not None:
        # One file per tap, so experiments on different taps share what was computed.
        init = "" if pretrained else f"|init_seed={init_seed}"
        # the architecture and preprocessing are part of the key: a registry fix must not reuse old features
        spec = backbone_spec(backbone)
        base = (f"{_faces_key(faces)}|{backbone}|{spec.arch}|{spec.preprocess}|{model.input_size}|{pretrained}"
                f"|{weights}{init}")
        for t in taps:
            files[t] = Path(cache) / f"features-{backbone}-{hashlib.md5(f'{base}|{t}'.encode()).hexdigest()[:16]}.npy"
            if files[t].exists():
                feats[t] = np.load(files[t])
    missing = [t for t in taps if t not in feats]
    if not missing:
        return feats
    x = torch.from_numpy(np.ascontiguousarray(faces.images))
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
    chunks: dict[str, list[np.ndarray]] = {t: [] for t in missing}
    starts = range(0, len(x), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc=f"{backbone} features", unit="batch")
    for start in starts:
        out = model(x[start : start + batch_size].float().div(255))
        for t in missing:
            chunks[t].append(out[t].numpy())
    for t in missing:
        feats[t] = np.concatenate(chunks[t]).astype(np.float32)
        if t in files:
            files[t].parent.mkdir(parents=True, exist_ok=True)
            tmp = files[t].with_suffix(".tmp.npy")
            np.save(tmp, feats[t])
            tmp.replace(files[t])
    return {t: feats[t] for t in taps}


def make_head(kind: str, task: str = "classes", seed: int = 0):
    """A scikit-learn estimator (scaler + head) for frozen features.

    Parameters
    ----------
    kind : {"linear", "logistic", "svm", "rf", "mlp"}
        ``linear`` is ridge regression/classification; ``logistic`` multinomial
        logistic regression (classes only); ``svm`` an RBF SVM; ``rf`` a 300-tree
        random forest; ``mlp`` one hidden layer of 256 ReLU units with early stopping.
    task : {"classes", "va"}
        Expression classes or valence/arousal regression (two outputs).
    seed : int
        Random state of the head.

    Raises
    ------
    ValueError
        For an unknown kind or task, or ``logistic`` with ``va``.
    """
    from sklearn import ensemble, linear_model, neural_network, svm
    from sklearn.multioutput import MultiOutputRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind not in HEADS:
        raise ValueError(f"head must be one of {HEADS}, got {kind!r}")
    if task not in ("classes", "va"):
        raise ValueError(f"task must be 'classes' or 'va', got {task!r}")
    if task == "classes":
        head = {
            "linear": lambda: linear_model.RidgeClassifier(alpha=10.0),
            "logistic": lambda: linear_model.LogisticRegression(C=0.1, max_iter=300, random_state=seed),
            "svm": lambda: svm.SVC(C=1.0, random_state=seed),
            "rf": lambda: ensemble.RandomForestClassifier(300, n_jobs=-1, random_state=seed),
            "mlp": lambda: neural_network.MLPClassifier(hidden_layer_sizes=(256,), alpha=1e-3, early_stopping=True, random_state=seed),
        }[kind]()
    else:
        if kind == "logistic":
            raise ValueError("a logistic head cannot regress valence/arousal; use linear, svm, rf or mlp")
        head = {
            "linear": lambda: linear_model.Ridge(alpha=10.0),
            "svm": lambda: MultiOutputRegressor(svm.SVR(C=1.0)),
            "rf": lambda: ensemble.RandomForestRegressor(300, n_jobs=-1, random_state=seed),
            "mlp": lambda: neural_network.MLPRegressor(hidden_layer_sizes=(256,), alpha=1e-3, early_stopping=True, random_state=seed),
        }[kind]()
    return make_pipeline(StandardScaler(), head)


def fit_predict_head(
    kind: str, task: str, x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, seed: int = 0
) -> dict[str, np.ndarray]:
    """Fit a head on frozen features and predict the test rows.

    Parameters
    ----------
    kind, task, seed
        See :func:`make_head`.
    x_train, x_test : np.ndarray
        ``(N, D)`` and ``(M, D)`` ``float32`` features.
    y_train : np.ndarray
        ``(N,)`` ``int64`` class ids for ``classes``; ``(N, 2)`` ``float32``
        valence/arousal in ``[-1, 1]`` for ``va``.

    Returns
    -------
    dict
        ``pred`` ``(M,)`` class ids and, where the head gives them, ``proba``
        ``(M, C)`` over the classes seen in training (``classes`` column order);
        or ``va`` ``(M, 2)`` clipped to ``[-1, 1]``.
    """
    head = make_head(kind, task, seed)
    head.fit(x_train, y_train)
    if task == "va":
        return {"va": np.clip(head.predict(x_test), -1, 1).astype(np.float32)}
    out = {"pred": head.predict(x_test).astype(np.int64), "classes": head.classes_.astype(np.int64)}
    if hasattr(head, "predict_proba"):
        out["proba"] = head.predict_proba(x_test).astype(np.float32)
    return out


def save_features(path: str | Path, faces: FaceSet, features: dict[str, np.ndarray]) -> Path:
    """Write embeddings with their labels to Parquet or NPZ, atomically.

    Parameters
    ----------
    path : str or Path
        ``.parquet`` (one row per face: ``name``, ``subject``, ``label``,
        ``expression``, ``valence``, ``arousal`` and one list column per tap) or
        ``.npz`` (arrays ``names``, ``subjects``, ``labels`` ``(N,)``, ``va``
        ``(N, 2)`` and one ``(N, D)`` ``float32`` array per tap).
    faces : FaceSet
    features : dict
        Tap name -> ``(N, D)`` ``float32`` (from :func:`extract_features`).

    Raises
    ------
    ValueError
        For another suffix, or features whose row count differs from ``faces``.
    """
    from affectkit.expressions import EXPRESSIONS
    from affectkit.io.write import atomic_path

    path = Path(path)
    for tap, x in features.items():
        if len(x) != len(faces):
            raise ValueError(f"tap {tap!r} has {len(x)} rows for {len(faces)} faces")
    if path.suffix not in (".parquet", ".npz"):
        raise ValueError(f"{path}: features are written as .parquet or .npz")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if path.suffix == ".npz":
            with open(tmp, "wb") as f:
                np.savez(f, names=np.asarray(faces.names), subjects=np.asarray(faces.subjects),
                         labels=faces.labels, va=faces.va, **features)
        else:
            import pandas as pd

            df = pd.DataFrame({
                "name": faces.names, "subject": faces.subjects, "label": faces.labels,
                "expression": [EXPRESSIONS[i] if i >= 0 else None for i in faces.labels],
                "valence": faces.va[:, 0], "arousal": faces.va[:, 1],
            })
            for tap, x in features.items():
                df[tap] = list(x)
            df.to_parquet(tmp, index=False)
    return path
