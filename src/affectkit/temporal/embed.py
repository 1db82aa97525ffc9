"""Per-frame embeddings of face sequences, the input of the temporal models.

An embedding spec names where each frame's vector comes from:

``emotion`` / ``emotion:MODEL``
    The penultimate layer of an affectkit expression model (the bundled default, a
    bundled name or a ``.safetensors`` path): face-emotion transfer, as Jin et al.
    2019 and Ouyang et al. 2017 feed a fine-tuned CNN's features to their temporal
    models.
``backbone:NAME[:TAP]``
    A frozen ImageNet network from :data:`affectkit.models.backbones.REGISTRY`,
    tapped at ``TAP`` (default ``penultimate``; ``fc6``, ``logits``, ``pyramid``...),
    cached on disk by :func:`affectkit.training.features.extract_features`.
``landmarks`` / ``mouth``
    Jin et al.'s landmark geometry (136-d, or the 40-d mouth subset); needs 68-point
    landmarks in the data (AFEW-VA has them).
``precomputed``
    The sequences already hold embeddings (a ``.npy`` sequence CSV).
``crops``
    The grey crops themselves, for :class:`~affectkit.temporal.models.C3D`.
"""

from __future__ import annotations

import numpy as np
import torch

from affectkit.errors import DataError
from affectkit.temporal.sequences import SequenceSet

EMBEDDINGS = ("emotion", "backbone", "landmarks", "mouth", "precomputed", "crops")


def parse_embedding(spec: str) -> tuple[str, str]:
    """Split an embedding spec into ``(kind, argument)``.

    Raises
    ------
    ValueError
        If the kind is not one of :data:`EMBEDDINGS`, or ``backbone`` has no name.
    """
    kind, _, arg = spec.partition(":")
    if kind not in EMBEDDINGS:
        raise ValueError(f"embedding must be one of {', '.join(EMBEDDINGS)} (with :ARG for emotion/backbone), got {spec!r}")
    if kind == "backbone" and not arg:
        raise ValueError("the backbone embedding needs a name: backbone:NAME[:TAP], e.g. backbone:mobilenet_v2")
    return kind, arg


def _split(flat: np.ndarray, lengths: list[int]) -> list[np.ndarray]:
    return np.split(flat.astype(np.float32), np.cumsum(lengths)[:-1])


@torch.inference_mode()
def _emotion(crops: np.ndarray, model: str, batch_size: int = 256) -> np.ndarray:
    from affectkit.models.recognizer import Recognizer

    rec = Recognizer(model or "default", tta="none")
    out = [rec.net.embed(rec.preprocess(crops[i : i + batch_size])).numpy() for i in range(0, len(crops), batch_size)]
    return np.concatenate(out)


def embed_sequences(seqs: SequenceSet, spec: str, *, progress: bool = False) -> SequenceSet:
    """Replace the face crops of ``seqs`` by per-frame embeddings.

    Parameters
    ----------
    seqs : SequenceSet
        Crops ``(T_i, S, S)`` ``uint8`` (or embeddings, for ``precomputed``).
    spec : str
        Embedding spec (see the module docstring).
    progress : bool
        Progress bar for backbone features.

    Returns
    -------
    SequenceSet
        The same sequences with ``x`` ``(T_i, D)`` ``float32`` (``crops``: unchanged),
        ``meta["content"]`` set to ``spec``.

    Raises
    ------
    DataError
        If the spec does not fit the data: ``precomputed`` on crops, crop embeddings
        on precomputed vectors, geometry without landmarks.
    ValueError
        For an unknown spec.
    WeightsError
        If the model or backbone weights cannot be loaded.
    """
    kind, arg = parse_embedding(spec)
    name = seqs.meta.get("root", "data")
    if kind == "precomputed":
        if seqs.content == "crops":
            raise DataError(f"{name}: holds face crops, not precomputed embeddings; choose an embedding such as 'emotion'")
        return seqs
    if seqs.content != "crops":
        if seqs.content == spec:
            return seqs
        raise DataError(f"{name}: holds precomputed embeddings; use --embedding precomputed")
    if kind == "crops":
        return seqs
    lengths = [len(a) for a in seqs.x]
    if kind in ("landmarks", "mouth"):
        from affectkit.faces.geometry import landmark_geometry

        if seqs.landmarks is None:
            raise DataError(f"{name}: the {kind} embedding needs 68-point landmarks, which this dataset does not have")
        subset = "all" if kind == "landmarks" else "mouth"
        return seqs.with_x([landmark_geometry(lm, subset) for lm in seqs.landmarks], spec)
    crops = np.concatenate(seqs.x)
    if kind == "emotion":
        flat = _emotion(crops, arg)
    else:
        from affectkit.data.faceset import FaceSet
        from affectkit.paths import cache_dir
        from affectkit.training.features import extract_features

        backbone, _, tap = arg.partition(":")
        tap = tap or "penultimate"
        labels, va = FaceSet.empty_labels(len(crops))
        faces = FaceSet(crops, labels, va, [""] * len(crops), [f"{i}" for i in range(len(crops))], {})
        flat = extract_features(faces, backbone, [tap], cache=cache_dir() / "features", progress=progress)[tap]
    return seqs.with_x(_split(flat, lengths), spec)
