"""``load_model(path)``: any affectkit model file, dispatched on its card's ``kind``.

This sits above the three model families (face, temporal, voice), so none of them
imports another to be loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from affectkit.audio.models import load_audio_model
from affectkit.models.card import load_model as load_face_model
from affectkit.models.card import read_card
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


