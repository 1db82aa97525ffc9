"""``OnnxRecognizer``: the :class:`~affectkit.models.recognizer.Recognizer` on ONNX Runtime, without torch.

Runs a face model exported by ``affectkit export`` (:mod:`affectkit.models.export`):
``NAME.onnx`` with its model card ``NAME.json`` (the card of the ``.safetensors``
model, with an ``onnx`` section). The input is made by the same function as the torch
Recognizer's (:func:`~affectkit.models.preprocess.face_input`, at the card's face
size and channels), test-time augmentation takes the same views
(:func:`~affectkit.models.preprocess.tta_views`), and the outputs are the same:
probabilities of the seven expressions, valence and arousal.

Neither importing nor running this module imports torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.errors import WeightsError, printable
from affectkit.expressions import EXPRESSIONS
from affectkit.models.preprocess import (
    FacePredictions,
    BUNDLED,
    CHANNELS,
    TTA_MODES,
    bundled_path,
    face_input,
    tta_views,
)
from affectkit.onnxrt import check_names, onnx_section, read_json, session

OUTPUTS = ("probabilities", "va")
"""The ONNX outputs the recognizer reads (the graph also has ``logits``)."""


def resolve_onnx(model: str | Path) -> Path:
    """The ``.onnx`` file of a bundled model name or a path.

    A ``.safetensors`` path stands for the ``.onnx`` export beside it.

    Raises
    ------
    WeightsError
        If the model is a bare word that is not bundled, or its ONNX file is missing.
    """
    if str(model) in BUNDLED:
        return bundled_path(str(model), ".onnx")
    path = Path(model)
    if not path.exists() and path.suffix == "":
        raise WeightsError(f"{printable(model)}: no such model file, and not a bundled model "
                           f"(bundled: {', '.join(BUNDLED)})")
    if path.suffix == ".safetensors":
        onnx = path.with_suffix(".onnx")
        if not onnx.exists() and path.exists():
            raise WeightsError(f"{printable(path)}: has no ONNX export beside it "
                               f"(affectkit export {printable(path)} -o {printable(path.parent)})")
        path = onnx
    return path


def read_onnx_card(path: str | Path) -> dict:
    """Read and check the card of an exported face model (``NAME.json`` beside ``NAME.onnx``).

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file.

    Returns
    -------
    dict
        The card.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the card is missing or not a JSON
        object, the model is not a face model, its ``input.face_size``,
        ``input.channels`` or class order is wrong, or it has no ``onnx`` section with
        the recognizer's outputs.
    """
    path = Path(path)
    cp = path.with_suffix(".json")
    where = printable(cp)
    if not path.is_file() and not path.is_dir() and not cp.exists():
        raise WeightsError(f"{printable(path)}: model file not found")
    card = read_json(cp)
    kind = card.get("kind", "face" if "architecture" in card and "classes" in card else None)
    if kind != "face":
        raise WeightsError(f"{printable(path)}: is a {kind or 'unknown'} model, not a face model")
    size = card.get("input", {}).get("face_size") if isinstance(card.get("input"), dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise WeightsError(f"{where}: model card 'input.face_size' must be a positive integer (pixels)")
    if card["input"].get("channels", "grey") not in CHANNELS:
        raise WeightsError(f"{where}: model card 'input.channels' must be one of {', '.join(CHANNELS)}")
    if card.get("classes") != list(EXPRESSIONS):
        raise WeightsError(f"{where}: class order differs from affectkit's {list(EXPRESSIONS)}")
    sec = onnx_section(card, cp)
    missing = [o for o in OUTPUTS if o not in sec["output_names"]]
    if missing:
        raise WeightsError(f"{where}: the ONNX model has no {missing[0]!r} output (re-export it)")
    return card


class OnnxRecognizer(FacePredictions):
    """Predict expressions and valence/arousal from face crops with ONNX Runtime.

    The same interface and outputs as :class:`~affectkit.models.recognizer.Recognizer`
    (to about 1e-5, the export's measured difference), without torch.

    Parameters
    ----------
    model : str or Path
        A bundled model name (``"default"``), an exported ``.onnx`` file with its card
        beside it, or a ``.safetensors`` file with its ``.onnx`` export beside it.
    batch_size : int
        Faces per ONNX Runtime call (times the number of TTA views).
    tta : bool or {"none", "flip", "multi"}
        Test-time augmentation, as the Recognizer's: ``"flip"`` (or True, the default)
        averages the face and its mirror image; ``"multi"`` 10 views; ``"none"`` one.
    threads : int, optional
        ONNX Runtime intra-op threads; None or 0 lets it choose (all physical cores).
        1 suits a process that analyses several inputs side by side.
    spin : bool
        Let idle ONNX Runtime threads spin between operators (see
        :func:`affectkit.onnxrt.session`): faster when the model runs back to back on
        large batches (``faces_cropped``), slower when other work runs between small
        batches (a video).

    Attributes
    ----------
    card : dict
        The model card.
    face_size : int
        Side, pixels, of the model's input.
    classes : tuple of str
        Output class order (:data:`~affectkit.expressions.EXPRESSIONS`).
    path : Path
        The ``.onnx`` file.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the model or its card is missing
        or malformed, it is not a face model, or onnxruntime is not installed.
    ValueError
        If ``tta``, ``batch_size`` or ``threads`` is invalid.
    """

    def __init__(self, model: str | Path = "default", batch_size: int = 64, tta: bool | str = "flip",
                 threads: int | None = None, spin: bool = False):
        self.tta = {True: "flip", False: "none"}.get(tta, tta)
        if self.tta not in TTA_MODES:
            raise ValueError(f"tta must be one of {TTA_MODES}, got {tta!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.path = resolve_onnx(model)
        self.card = read_onnx_card(self.path)
        sec = self.card["onnx"]
        self.session = session(self.path, threads=threads, what="ONNX face model", spin=spin)
        check_names(self.session, sec["input_names"], sec["output_names"], self.path)
        self._input = sec["input_names"][0]
        self.batch_size = batch_size
        self.face_size = int(self.card["input"]["face_size"])
        self.channels = self.card["input"].get("channels", "grey")
        self.classes = tuple(self.card["classes"])
        # A model trained for one task has an untrained head for the other; its output is NaN.
        config = self.card.get("training", {}).get("config", {}) if isinstance(self.card.get("training"), dict) else {}
        self.task = config.get("task", "multitask") if isinstance(config, dict) else "multitask"

    def preprocess(self, faces: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        """Turn crops into the network's input (:func:`~affectkit.models.preprocess.face_input`).

        Parameters
        ----------
        faces : sequence of np.ndarray, or np.ndarray
            Crops of any size: each ``(H, W)`` grey or ``(H, W, 3|4)`` RGB(A), ``uint8``
            or 16-bit; or a stacked ``(N, H, W[, C])`` array.

        Returns
        -------
        np.ndarray
            ``(N, 1, S, S)`` ``float32`` grey in ``[0, 1]``, ``S`` the card's face size.
        """
        return face_input(faces, self.face_size, self.channels)

    def predict_arrays(self, faces: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(probabilities, va)`` for face crops.

        Returns
        -------
        probabilities : np.ndarray
            ``(N, 7)`` ``float32``, rows sum to 1, columns in :data:`EXPRESSIONS` order,
            averaged over the TTA views; NaN for a model trained for valence/arousal only.
        va : np.ndarray
            ``(N, 2)`` ``float32`` valence and arousal in ``[-1, 1]``, averaged over the
            views; NaN for a model trained for classes only.
        """
        x = self.preprocess(faces)
        probs, vas = [], []
        for start in range(0, len(x), self.batch_size):
            views = tta_views(x[start : start + self.batch_size], self.tta)
            p, va = self.session.run(list(OUTPUTS), {self._input: np.concatenate(views)})
            k = len(views)
            probs.append(p.reshape(k, -1, p.shape[-1]).mean(0))
            vas.append(va.reshape(k, -1, 2).mean(0))
        if not probs:
            return np.zeros((0, len(EXPRESSIONS)), np.float32), np.zeros((0, 2), np.float32)
        probs, vas = np.concatenate(probs).astype(np.float32), np.concatenate(vas).astype(np.float32)
        if self.task == "classes":
            vas[:] = np.nan
        elif self.task == "va":
            probs[:] = np.nan
        return probs, vas


def load_recognizer(model: str | Path = "default", *, tta: bool | str = "flip", batch_size: int = 64,
                    threads: int | None = None, spin: bool = False):
    """The recognizer of ``analyze``: ONNX Runtime whenever an ``.onnx`` export exists.

    * a bundled name, an ``.onnx`` file, or a ``.safetensors`` file with its ``.onnx``
      export beside it: :class:`OnnxRecognizer` (torch is never imported);
    * a ``.safetensors`` file with no ``.onnx`` beside it: the torch
      :class:`~affectkit.models.recognizer.Recognizer` when torch is installed (the
      ``train`` extra; a model trained here always has it), else a one-line error
      that says to run ``affectkit export``.

    Parameters
    ----------
    model : str or Path
        See :class:`OnnxRecognizer`.
    tta, batch_size, threads, spin
        See :class:`OnnxRecognizer` (``threads`` and ``spin`` are ignored by the torch fallback).

    Returns
    -------
    OnnxRecognizer or Recognizer
        Either; both have ``predict_arrays``, ``predict``, ``card``, ``face_size``.

    Raises
    ------
    WeightsError
        As :class:`OnnxRecognizer`; for a ``.safetensors`` model without its export
        and without torch, naming the ``affectkit export`` command to run.
    """
    from affectkit.errors import has_module

    path = Path(model)
    if str(model) not in BUNDLED and path.suffix == ".safetensors" and path.exists() \
            and not path.with_suffix(".onnx").exists():
        if not has_module("torch"):
            raise WeightsError(f"{printable(path)}: has no ONNX export beside it and torch is not installed: "
                               f"run `affectkit export {printable(path)} -o {printable(path.parent)}` "
                               f"(needs pip install 'affectkit[train]') where torch is")
        from affectkit.models.recognizer import Recognizer

        return Recognizer(path, tta=tta, batch_size=batch_size)
    return OnnxRecognizer(model, batch_size=batch_size, tta=tta, threads=threads, spin=spin)


Recognizer = OnnxRecognizer
"""``affectkit.Recognizer``: the recognizer on ONNX Runtime (the torch one is
:class:`affectkit.models.recognizer.Recognizer`, for training and evaluation)."""
