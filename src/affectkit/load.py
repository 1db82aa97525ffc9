"""``load_model(path)``: any affectkit model file, dispatched on its card's ``kind``;
``export_onnx(model, out_dir)``: any model that ``affectkit export`` takes, likewise.

This sits above the three model families (face, temporal, voice), so none of them
imports another to be loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from affectkit.audio.models import load_audio_model
from affectkit.errors import WeightsError, printable
from affectkit.models.card import load_model as load_face_model
from affectkit.models.card import peek_kind, read_card
from affectkit.temporal.trainer import load_temporal


def load_model(path: str | Path) -> tuple[Any, dict]:
    """Load any affectkit model, dispatching on its card's ``kind``.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file with its card.

    Returns
    -------
    model
        ``face``: :class:`~affectkit.models.network.EmotionNet`
        (:func:`affectkit.models.card.load_model`);
        ``temporal``: :class:`~affectkit.temporal.trainer.TemporalNet`
        (:func:`~affectkit.temporal.trainer.load_temporal`); ``voice``:
        :class:`~affectkit.audio.models.MLPClassifier`
        (:func:`~affectkit.audio.models.load_audio_model`).
    card : dict
        With ``kind`` set.

    Raises
    ------
    WeightsError
        As the loader of that kind does.
    """
    kind = read_card(path)["kind"]
    if kind == "face":
        return load_face_model(path)
    if kind == "temporal":
        return load_temporal(path)
    return load_audio_model(path)


def export_onnx(model: str | Path, out_dir: str | Path, *, check_inputs: Sequence[str | Path] | None = None,
                **kwargs: Any):
    """Export any model ``affectkit export`` takes to ONNX, checked against torch.

    Parameters
    ----------
    model : str or Path
        ``"mtcnn"``, a bundled face model name (``"default"``), or a ``.safetensors``
        file of kind ``face`` (:func:`affectkit.models.export.export_face_onnx`) or
        ``voice`` (:func:`affectkit.audio.onnx_export.export_voice_onnx`).
    out_dir : str or Path
        Output folder; created if missing.
    check_inputs : sequence of str or Path, optional
        What to check the export on: face crops (face models), photos (mtcnn) or sound
        files (voice models); by default real data from the shared folder.
    **kwargs
        ``opset``, ``tolerance``, ``threads``.

    Returns
    -------
    affectkit.models.export.ExportResult

    Raises
    ------
    WeightsError
        With a one-line message naming the file: missing, malformed, a temporal model
        (not exported yet), or an export that disagrees with torch.
    InputError
        If ``out_dir`` is not a writable folder, or ``check_inputs`` holds nothing usable.
    """
    from affectkit.models.export import export_onnx as export_face_or_mtcnn
    from affectkit.models.preprocess import BUNDLED

    if str(model) not in ("mtcnn", *BUNDLED):
        kind = peek_kind(model)
        if kind == "voice":
            from affectkit.audio.onnx_export import export_voice_onnx

            return export_voice_onnx(model, out_dir, check_audio=check_inputs, **kwargs)
        if kind == "temporal":
            raise WeightsError(f"{printable(model)}: is a temporal model; affectkit export writes face and voice "
                               "models and mtcnn (temporal models are not exported to ONNX yet)")
    return export_face_or_mtcnn(model, out_dir, check_images=check_inputs, **kwargs)
