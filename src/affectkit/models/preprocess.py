"""The torch-free half of face-model inference: bundled models, preprocessing, test-time
views and the prediction table.

Shared by the torch :class:`~affectkit.models.recognizer.Recognizer` and the ONNX
Runtime :class:`~affectkit.models.onnx_face.OnnxRecognizer`, so both feed a model
exactly the same input. Nothing here imports torch (numpy, OpenCV and pandas only).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from affectkit.errors import WeightsError
from affectkit.expressions import EXPRESSIONS
from affectkit.io.media import read_image, to_rgb_uint8

BUNDLED = {"default": "default.safetensors"}
"""Models that ship inside the package (``affectkit/weights``)."""

TTA_MODES = ("none", "flip", "multi")
"""Test-time augmentation modes."""

MULTI_VIEWS: tuple[tuple[float, float, float], ...] = (
    (1.0, 0.0, 0.0),
    (1.1, 0.0, 0.0),
    (1.0, 0.05, 0.0),
    (1.0, -0.05, 0.0),
    (1.0, 0.0, 0.05),
)
"""``(zoom, x shift, y shift)`` views of ``tta="multi"``, each also mirrored; shifts
are fractions of the face side."""

CHANNELS = ("grey", "rgb")
"""Input channel layouts a model card may declare (``input.channels``)."""


def bundled_path(name: str, suffix: str = ".safetensors") -> Path:
    """Return the path of a bundled model's file.

    Parameters
    ----------
    name : str
        A key of :data:`BUNDLED` (``"default"``).
    suffix : str
        ``".safetensors"`` (the weights), ``".onnx"`` (its ONNX export) or ``".json"``
        (the model card).

    Returns
    -------
    Path

    Raises
    ------
    WeightsError
        If ``name`` is not bundled or its file is absent from the installation.
    """
    if name not in BUNDLED:
        raise WeightsError(f"unknown bundled model {name!r}; bundled: {sorted(BUNDLED)}")
    path = Path(str(resources.files("affectkit") / "weights" / BUNDLED[name])).with_suffix(suffix)
    if not path.is_file():
        what = {".onnx": " (its ONNX export: affectkit export default -o src/affectkit/weights)"}.get(suffix, "")
        raise WeightsError(f"{path}: bundled model {name!r} is missing from this installation{what}")
    return path


def _as_list(faces: Sequence[np.ndarray] | np.ndarray) -> list[np.ndarray]:
    if isinstance(faces, np.ndarray):
        # (H, W) and (H, W, 1|3|4) are one face; (N, H, W) and (N, H, W, C) are a batch.
        single = faces.ndim == 2 or (faces.ndim == 3 and faces.shape[-1] in (1, 3, 4))
        return [faces] if single else list(faces)
    return list(faces)


def face_input(faces: Sequence[np.ndarray] | np.ndarray, face_size: int, channels: str = "grey") -> np.ndarray:
    """Turn face crops into a face model's input, as its card says.

    Each crop is converted to RGB ``uint8``, then to grey (``channels="grey"``, OpenCV's
    BT.601 weights), resized to ``face_size`` square (``cv2.INTER_AREA`` when shrinking,
    ``cv2.INTER_LINEAR`` when enlarging) and scaled to ``[0, 1]``. The resize to the
    backbone's own side and the ImageNet mean/std are inside the network (and so inside
    its ONNX export), not here.

    Parameters
    ----------
    faces : sequence of np.ndarray, or np.ndarray
        Crops of any size: each ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A), ``uint8``
        or 16-bit; or a stacked ``(N, H, W[, C])`` array.
    face_size : int
        Side, pixels, of the model's input (the card's ``input.face_size``).
    channels : {"grey", "rgb"}
        The card's ``input.channels``.

    Returns
    -------
    np.ndarray
        ``(N, 1, S, S)`` (grey) or ``(N, 3, S, S)`` (RGB) ``float32`` in ``[0, 1]``,
        ``S = face_size``.

    Raises
    ------
    ValueError
        If ``channels`` is not one of :data:`CHANNELS`.
    """
    import cv2

    if channels not in CHANNELS:
        raise ValueError(f"channels must be one of {CHANNELS}, got {channels!r}")
    faces = _as_list(faces)
    c = 1 if channels == "grey" else 3
    out = np.empty((len(faces), c, face_size, face_size), dtype=np.float32)
    for i, face in enumerate(faces):
        img = to_rgb_uint8(face)
        if channels == "grey":
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        interp = cv2.INTER_AREA if min(img.shape[:2]) >= face_size else cv2.INTER_LINEAR
        small = cv2.resize(img, (face_size, face_size), interpolation=interp)
        out[i] = (small[None] if small.ndim == 2 else small.transpose(2, 0, 1)) / 255.0
    return out


def _sampling_matrix(n: int, zoom: float, shift: float) -> np.ndarray:
    """``(n, n)`` bilinear resampling matrix of one axis of ``torch.nn.functional.grid_sample``.

    The grid is ``affine_grid`` of a zoom ``zoom`` and a shift of ``shift`` face sides
    (``align_corners=False``), sampled bilinearly with border padding.
    """
    base = (2 * np.arange(n, dtype=np.float64) + 1) / n - 1  # pixel centres, normalised
    g = base / zoom + 2 * shift
    pos = np.clip(((g + 1) * n - 1) / 2, 0, n - 1)  # border padding clamps the coordinate
    lo = np.floor(pos).astype(np.int64)
    w_hi = pos - lo
    m = np.zeros((n, n), np.float64)
    rows = np.arange(n)
    np.add.at(m, (rows, lo), 1 - w_hi)
    np.add.at(m, (rows, np.minimum(lo + 1, n - 1)), w_hi)  # w_hi is 0 where lo + 1 == n
    return m


def tta_views(x: np.ndarray, mode: str) -> list[np.ndarray]:
    """The views of a batch that test-time augmentation averages over.

    The same views as the torch Recognizer's (``torch.nn.functional.affine_grid`` and
    ``grid_sample``, bilinear, border padding, ``align_corners=False``), computed as two
    separable resampling matrices, since the views only zoom and shift.

    Parameters
    ----------
    x : np.ndarray
        ``(N, C, H, W)`` ``float32`` faces.
    mode : {"none", "flip", "multi"}
        ``"none"``: ``[x]``; ``"flip"``: ``x`` and its mirror image; ``"multi"``: each of
        :data:`MULTI_VIEWS` and its mirror image (10 views).

    Returns
    -------
    list of np.ndarray
        Each ``(N, C, H, W)`` ``float32``.

    Raises
    ------
    ValueError
        If ``mode`` is not one of :data:`TTA_MODES`.
    """
    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, np.ascontiguousarray(x[..., ::-1])]
    if mode != "multi":
        raise ValueError(f"tta must be one of {TTA_MODES}, got {mode!r}")
    h, w = x.shape[-2:]
    views = []
    for zoom, dx, dy in MULTI_VIEWS:
        my, mx = _sampling_matrix(h, zoom, dy), _sampling_matrix(w, zoom, dx)
        v = np.einsum("ij,ncjk,lk->ncil", my, x.astype(np.float64), mx).astype(np.float32)
        views += [v, np.ascontiguousarray(v[..., ::-1])]
    return views


def predictions_frame(probs: np.ndarray, va: np.ndarray) -> pd.DataFrame:
    """Tabulate ``(N, 7)`` probabilities and ``(N, 2)`` valence/arousal.

    Returns
    -------
    pandas.DataFrame
        The seven probability columns (:data:`~affectkit.expressions.EXPRESSIONS`),
        ``expression`` (the most probable), ``valence`` and ``arousal``.
    """
    df = pd.DataFrame(probs, columns=list(EXPRESSIONS))
    df["expression"] = [EXPRESSIONS[i] for i in probs.argmax(1)] if len(probs) else []
    df["valence"] = va[:, 0]
    df["arousal"] = va[:, 1]
    return df


class FacePredictions:
    """``predict_proba`` and ``predict`` for a recognizer that implements ``predict_arrays``.

    Shared by the torch :class:`~affectkit.models.recognizer.Recognizer` and the ONNX
    Runtime :class:`~affectkit.models.onnx_face.OnnxRecognizer`, so both give the same
    table from the same ``((N, 7), (N, 2))`` arrays.
    """

    def predict_proba(self, faces) -> np.ndarray:
        """``(N, 7)`` ``float32`` expression probabilities (see ``predict_arrays``)."""
        return self.predict_arrays(faces)[0]

    def predict(self, faces) -> pd.DataFrame:
        """Predict for face crops (arrays or image paths).

        Parameters
        ----------
        faces : array, path, or a sequence of them
            Face crops; paths are read with :func:`~affectkit.io.media.read_image`.

        Returns
        -------
        pandas.DataFrame
            One row per face: the seven probability columns, ``expression`` (most
            probable class), ``valence`` and ``arousal`` in ``[-1, 1]``.

        Raises
        ------
        InputError
            If a path cannot be read as an image.
        """
        if isinstance(faces, (str, Path)):
            faces = [faces]
        if not isinstance(faces, np.ndarray):
            faces = [read_image(f) if isinstance(f, (str, Path)) else f for f in faces]
        probs, va = self.predict_arrays(faces)
        return predictions_frame(probs, va)
