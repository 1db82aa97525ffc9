"""``Recognizer``: expression probabilities, valence and arousal for face crops.

For people who bring their own faces (as HSEmotion's ``predict_emotions`` does); the
``analyze`` pipeline uses the same object after detection and alignment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from affectkit.errors import WeightsError, printable
from affectkit.expressions import EXPRESSIONS
from affectkit.models.card import load_model
from affectkit.models.preprocess import (  # noqa: F401  (re-exported: BUNDLED, bundled_path, predictions_frame)
    FacePredictions,
    BUNDLED,
    MULTI_VIEWS,
    TTA_MODES,
    bundled_path,
    face_input,
    predictions_frame,
)


def torch_tta_views(x: torch.Tensor, mode: str) -> list[torch.Tensor]:
    """Views of a ``(B, C, S, S)`` float tensor for test-time augmentation (torch twin of ``preprocess.tta_views``)."""
    from torch.nn import functional as F

    if mode == "none":
        return [x]
    if mode == "flip":
        return [x, x.flip(-1)]
    views = []
    for zoom, dx, dy in MULTI_VIEWS:
        theta = torch.tensor([[1 / zoom, 0, 2 * dx], [0, 1 / zoom, 2 * dy]], dtype=x.dtype).expand(len(x), 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        v = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        views += [v, v.flip(-1)]
    return views


class Recognizer(FacePredictions):
    """Predict expressions and valence/arousal from face crops.

    Parameters
    ----------
    model : str or Path
        A bundled model name (``"default"``) or a ``.safetensors`` file with its
        model card next to it.
    device : str
        Torch device.
    batch_size : int
        Faces per forward pass.
    tta : bool or {"none", "flip", "multi"}
        Test-time augmentation: ``"flip"`` (or True) averages the face and its mirror
        image (2 forward passes); ``"multi"`` also averages small zooms and shifts
        (10 passes, see :data:`MULTI_VIEWS`); ``"none"`` (or False) one pass.

    Attributes
    ----------
    card : dict
        The model card (input size, class order, training data, metrics).

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the model cannot be found or
        loaded, its card is malformed, or it is not a face model (see
        :func:`~affectkit.models.card.load_model`).
    """

    def __init__(self, model: str | Path = "default", device: str = "cpu", batch_size: int = 64, tta: bool | str = "flip"):
        path = bundled_path(str(model)) if str(model) in BUNDLED else Path(model)
        if not path.exists() and path.suffix == "":
            # A bare word is more likely a mistyped bundled name than a file without a suffix.
            raise WeightsError(f"{printable(model)}: no such model file, and not a bundled model "
                               f"(bundled: {', '.join(BUNDLED)})")
        self.net, self.card = load_model(path)
        self.net.to(device)
        self.device = device
        self.batch_size = batch_size
        self.tta = {True: "flip", False: "none"}.get(tta, tta)
        if self.tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
        self.face_size = int(self.card["input"]["face_size"])
        self.channels = self.card["input"].get("channels", "grey")
        self.classes = tuple(self.card["classes"])
        # A model trained for one task has an untrained head for the other; its output is NaN.
        self.task = self.card.get("training", {}).get("config", {}).get("task", "multitask")

    def preprocess(self, faces: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """Turn crops into the network's input.

        Parameters
        ----------
        faces : sequence of np.ndarray, or np.ndarray
            Crops of any size: each ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A), ``uint8``
            or 16-bit; or a stacked ``(N, H, W[, C])`` array.

        Returns
        -------
        torch.Tensor
            ``(N, 1, S, S)`` ``float32`` grey in ``[0, 1]``, ``S`` the card's face size.
        """
        return torch.from_numpy(face_input(faces, self.face_size, self.channels))

    @torch.inference_mode()
    def predict_arrays(self, faces: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(probabilities, va)`` for face crops.

        Returns
        -------
        probabilities : np.ndarray
            ``(N, 7)`` ``float32``, rows sum to 1, columns in :data:`EXPRESSIONS` order;
            NaN for a model trained for valence/arousal only (card ``task`` ``va``).
        va : np.ndarray
            ``(N, 2)`` ``float32`` valence and arousal in ``[-1, 1]``; NaN for a model
            trained for classes only (card ``task`` ``classes``).
        """
        x = self.preprocess(faces)
        probs, vas = [], []
        for start in range(0, len(x), self.batch_size):
            xb = x[start : start + self.batch_size].to(self.device)
            views = torch_tta_views(xb, self.tta)
            out = self.net(torch.cat(views))
            k = len(views)
            probs.append(torch.softmax(out["logits"], 1).unflatten(0, (k, -1)).mean(0).cpu())
            vas.append(out["va"].unflatten(0, (k, -1)).mean(0).cpu())
        if not probs:
            return np.zeros((0, len(EXPRESSIONS)), np.float32), np.zeros((0, 2), np.float32)
        probs, vas = torch.cat(probs).numpy(), torch.cat(vas).numpy()
        if self.task == "classes":
            vas[:] = np.nan
        elif self.task == "va":
            probs[:] = np.nan
        return probs, vas
