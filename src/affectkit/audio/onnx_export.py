"""The voice MLP to ONNX: ``affectkit export VOICE.safetensors -o DIR``.

The graph is the whole of :meth:`~affectkit.audio.models.MLPClassifier.predict_proba`
after feature extraction: standardisation with the card's mean and std, the
:class:`~affectkit.audio.models.VielzeufMLP` (Vielzeuf et al. 2018) and a softmax.
Input ``features`` ``(batch, D)`` ``float32``, the card's ``features.names`` in order
(:func:`~affectkit.audio.features.extract_functionals` for kind ``librosa``);
outputs ``logits`` and ``probabilities`` ``(batch, C)`` over the card's
``output_classes``. The probabilities are uncalibrated, as ``predict_proba``'s; a
card's ``calibration.temperature`` T applies as ``softmax(logits / T)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from affectkit.audio.models import load_audio_model
from affectkit.models.export import OPSET, TOLERANCE, ExportResult, output_paths, export_checked
from affectkit.paths import shared_dir

VOICE_INPUTS = ("features",)
VOICE_OUTPUTS = ("logits", "probabilities")


class _VoiceGraph(nn.Module):
    """Standardise, MLP, softmax: ``(B, D)`` raw features to ``(logits, probabilities)``."""

    def __init__(self, net: nn.Module, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(np.asarray(mean, np.float32)))
        self.register_buffer("std", torch.tensor(np.asarray(std, np.float32)))

    def forward(self, features: torch.Tensor):
        logits = self.net((features - self.mean) / self.std)
        return logits, torch.softmax(logits, dim=1)


def check_features(card: dict, audio: Sequence[str | Path] | None = None) -> tuple[np.ndarray, str]:
    """Real feature vectors to check a voice model's export on.

    Parameters
    ----------
    card : dict
        The voice model's card.
    audio : sequence of str or Path, optional
        Sound files. By default the first 4 EmoDB utterances (by name) of the shared
        data folder. Features are extracted for kind ``librosa``; for other kinds, or
        without audio, 16 vectors are drawn from the card's standardisation (mean +
        std x N(0, 1), seeded), and the description says so.

    Returns
    -------
    x : np.ndarray
        ``(N, D)`` ``float32``.
    description : str
    """
    feats = card["features"]
    files = [Path(a) for a in audio] if audio else sorted((shared_dir() / "data" / "emodb" / "wav").glob("*.wav"))[:4]
    if files and feats["kind"] == "librosa":
        from affectkit.audio.features import extract_functionals
        from affectkit.audio.io import load_audio

        sr = int(feats["sample_rate"])
        x = np.stack([extract_functionals(load_audio(f, sr), sr) for f in files]).astype(np.float32)
        where = "EmoDB utterances (shared/data/emodb)" if not audio else "sound files"
        return x, f"the {feats['kind']} features of {len(files)} {where}"
    mean, std = (np.asarray(card["standardisation"][k], np.float64) for k in ("mean", "std"))
    x = (mean + std * np.random.default_rng(0).standard_normal((16, len(mean)))).astype(np.float32)
    return x, "16 feature vectors drawn from the card's standardisation (no audio to extract features from)"


def export_voice_onnx(weights: str | Path, out_dir: str | Path, *, opset: int = OPSET,
                      check_audio: Sequence[str | Path] | None = None, features: np.ndarray | None = None,
                      tolerance: float = TOLERANCE, threads: int | None = 1) -> ExportResult:
    """Export a voice model to ``out_dir/NAME.onnx`` with its card ``out_dir/NAME.json``.

    Parameters
    ----------
    weights : str or Path
        A voice model's ``.safetensors`` file (its card beside it).
    out_dir : str or Path
        Output folder; created if missing.
    opset, tolerance, threads
        As :func:`~affectkit.models.export.export_face_onnx`.
    check_audio : sequence of str or Path, optional
        Sound files to check on (see :func:`check_features`).
    features : np.ndarray, optional
        ``(N, D)`` feature vectors to check on instead.

    Returns
    -------
    ExportResult

    Raises
    ------
    WeightsError
        If the model cannot be loaded or is not a voice model, or ONNX Runtime and torch
        differ by more than ``tolerance``.
    InputError
        If ``out_dir`` is not a writable folder.
    """
    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    weights = Path(weights)
    model, card = load_audio_model(weights)
    name = weights.stem
    onnx_path, card_file = output_paths(Path(out_dir), [f"{name}.onnx", f"{name}.json"])
    if features is not None:
        x, desc = np.asarray(features, np.float32), f"{len(features)} given feature vectors"
    else:
        x, desc = check_features(card, check_audio)
    graph = _VoiceGraph(model.net_, model.mean_, model.std_).eval()
    d, c = x.shape[1], int(card["architecture"]["n_outputs"])
    io = {
        "inputs": {"features": {"shape": ["batch", d], "dtype": "float32",
                                "names": "the card's features.names, in order (raw, not standardised)"}},
        "outputs": {
            "logits": {"shape": ["batch", c], "dtype": "float32", "classes": "the card's output_classes"},
            "probabilities": {"shape": ["batch", c], "dtype": "float32",
                              "note": "softmax of logits, uncalibrated (calibration.temperature T: softmax(logits / T))"},
        },
    }
    return export_checked(graph, [x, x[:1]], weights, onnx_path, card_file, card, inputs=VOICE_INPUTS,
                          outputs=VOICE_OUTPUTS, io=io, check_inputs=desc, opset=opset, tolerance=tolerance,
                          threads=threads)
