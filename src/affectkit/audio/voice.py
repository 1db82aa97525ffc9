"""Voice emotion along a video's sound track, and its fusion with the face, for ``analyze --audio``.

A :class:`VoiceTrack` reads a video's audio, computes the acoustic functionals over
sliding windows (:func:`~affectkit.audio.features.window_features`; the window is the
length of the training utterances, 2 s for EmoDB), and runs a voice model on each
window. Each analysed frame then takes the window centred nearest to it.

The voice model's classes are mapped onto the seven face expressions by name, with
every rule explicit (:class:`affectkit.fusion.ClassMap`): EmoDB's *boredom* has no
face class and is dropped (the other voice probabilities are renormalised); the face's
*surprise* has no voice class, so its voice column is empty and its fused value comes
from the face alone. The fused columns are the per-class mean of the two modalities
over the modalities that have the class and have an output for the frame (late fusion,
Vielzeuf et al. 2018): a frame without a face is fused from the voice alone, and a
frame past the end of the sound from the face alone. No paired audio-visual data is
available to learn fusion weights, so the default is this plain mean; weights learned
on your validation data (:class:`affectkit.fusion.LateFusion`) can replace it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.errors import InputError
from affectkit.expressions import EXPRESSIONS

VOICE_DROP = ("boredom", "calm")
"""Voice classes with no face expression; dropped, and the rest renormalised."""


class VoiceTrack:
    """Voice-emotion probabilities over a media file's sound, looked up by time.

    Parameters
    ----------
    path : str or Path
        A video with an audio track, or a sound file.
    model : str or Path
        ``"default"`` (the bundled EmoDB voice model) or an audio model ``.safetensors``
        (:func:`affectkit.audio.models.save_audio_model`).
    hop_s : float
        Seconds between window centres.

    Attributes
    ----------
    status : str
        ``"ok"``, ``"no audio track"`` or ``"silent"``; when not ``"ok"`` every lookup
        gives NaN.
    times : np.ndarray
        ``(W,)`` ``float64`` window centres, seconds.
    proba : np.ndarray
        ``(W, 7)`` ``float64`` voice probabilities in
        :data:`~affectkit.expressions.EXPRESSIONS` order; the *surprise* column (and
        any other class the model lacks) is NaN.
    window_s : float
        Window length, seconds.
    duration_s : float
        Length of the sound, seconds.

    Raises
    ------
    InputError
        If the file is missing or its audio cannot be decoded (a file without an audio
        track, or a silent one, is not an error: see ``status``).
    WeightsError
        If the voice model cannot be loaded.
    """

    def __init__(self, path: str | Path, model: str | Path = "default", hop_s: float = 0.5):
        from affectkit.audio.features import window_features
        from affectkit.audio.io import has_audio, is_silent, load_audio
        from affectkit.audio.models import load_audio_model
        from affectkit.fusion import ClassMap

        self.path = Path(path)
        net, card = load_audio_model(bundled_voice_model() if str(model) == "default" else model)
        names = card["class_names"]
        self.class_map = ClassMap.build([names[c] for c in card["output_classes"]], EXPRESSIONS,
                                        drop=[c for c in VOICE_DROP if c in names])
        feats_card = card["features"]
        if feats_card["kind"] != "librosa":
            raise InputError(model, f"analyze --audio takes models on the librosa features, not {feats_card['kind']!r}")
        sr = int(feats_card["sample_rate"])
        self.window_s = float(feats_card.get("window_s") or 2.0)
        self.times = np.zeros(0)
        self.duration_s = 0.0
        self.proba = np.zeros((0, len(EXPRESSIONS)))
        if not has_audio(self.path):
            self.status = "no audio track"
            return
        wave = load_audio(self.path, sr, allow_silent=True)
        if is_silent(wave):
            self.status = "silent"
            return
        self.status = "ok"
        self.duration_s = len(wave) / sr
        self.times, feats = window_features(wave, sr, win_s=self.window_s, hop_s=hop_s)
        if feats_card.get("speaker_norm"):
            # The model was trained on per-speaker z-scored features; a clip is taken as one
            # speaker and normalised over its own windows (the transductive step of training).
            feats = (feats - feats.mean(0)) / np.maximum(feats.std(0), 1e-6)
        p = self.class_map.apply(net.predict_proba(feats))
        p[:, ~self.class_map.coverage] = np.nan
        self.proba = p

    def at(self, times: np.ndarray) -> np.ndarray:
        """Voice probabilities of the window centred nearest to each time.

        Parameters
        ----------
        times : np.ndarray
            ``(N,)`` seconds; NaN (still images) gives NaN rows.

        Returns
        -------
        np.ndarray
            ``(N, 7)`` ``float64``; NaN rows where there is no voice output (no track,
            silence, or a time outside the sound).
        """
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        out = np.full((len(times), len(EXPRESSIONS)), np.nan)
        if self.status != "ok" or len(self.times) == 0:
            return out
        from affectkit.temporal.sequences import nearest_indices

        rows = np.flatnonzero(np.isfinite(times) & (times >= 0) & (times <= self.duration_s))
        out[rows] = self.proba[nearest_indices(self.times, times[rows])]
        return out


def add_voice_columns(rows: list[dict], track: VoiceTrack | None) -> list[dict]:
    """Add the voice and fused columns (:data:`affectkit.table.VOICE_COLUMNS`) to ``analyze`` table rows.

    Parameters
    ----------
    rows : list of dict
        Rows with ``time_s`` (seconds) and the seven face probability columns (NaN for
        a frame without a face).
    track : VoiceTrack or None
        None for a source without sound (an image): voice columns empty, fused = face.

    Returns
    -------
    list of dict
        The same rows, updated in place.
    """
    from affectkit.fusion import fuse_mean

    if not rows:
        return rows
    times = np.array([r["time_s"] for r in rows], dtype=np.float64)
    voice = track.at(times) if track is not None else np.full((len(rows), len(EXPRESSIONS)), np.nan)
    covered = track.class_map.coverage if track is not None else np.ones(len(EXPRESSIONS), bool)
    face = np.array([[r.get(e, np.nan) for e in EXPRESSIONS] for r in rows], dtype=np.float64)
    face[~np.isfinite(face).all(1)] = np.nan  # a partial face row counts as no face
    coverage = np.vstack([np.ones(len(EXPRESSIONS), bool), covered])
    # fusion takes whole-NaN rows for "no output"; uncovered columns are ignored via coverage
    voice_in = np.nan_to_num(voice, nan=0.0)
    voice_in[np.isnan(voice).all(1)] = np.nan
    fused = fuse_mean([face, voice_in], coverage)
    for r, v, f in zip(rows, voice, fused):
        for j, e in enumerate(EXPRESSIONS):
            r[f"voice_{e}"] = float(v[j])
            r[f"fused_{e}"] = float(f[j])
        r["voice_expression"] = EXPRESSIONS[int(np.nanargmax(v))] if np.isfinite(v).any() else None
        r["fused_expression"] = EXPRESSIONS[int(np.nanargmax(f))] if np.isfinite(f).any() else None
    return rows


def bundled_voice_model() -> Path:
    """Path of the bundled voice model (an MLP on the librosa functionals, trained on EmoDB).

    Raises
    ------
    WeightsError
        If the file is not in the installed package.
    """
    from affectkit.errors import WeightsError

    path = Path(__file__).resolve().parents[1] / "weights" / "voice_emodb.safetensors"
    if not path.is_file():
        raise WeightsError(f"{path}: the bundled voice model is missing from this installation")
    return path
