"""Voice emotion along a video's sound track, and its fusion with the face, for ``analyze --audio``.

A :class:`VoiceTrack` reads a video's audio, finds the speech in it (Silero VAD,
:mod:`affectkit.audio.vad`), computes the acoustic functionals over sliding windows
(:func:`~affectkit.audio.features.window_features`; the window is the length of the
training utterances, 2 s for EmoDB), and runs a voice model on each window that holds
speech, with its probabilities temperature-scaled as its card says (Guo et al. 2017).
Windows without speech have no voice output (NaN): a model trained on acted speech
says nothing about music or room noise, and on the shared sample videos' non-speech
sound it gives near-certain, meaningless answers (the "without VAD" column of
``docs/audio.md``). Each analysed frame then takes the window centred nearest to it.

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

    Only windows with speech get voice probabilities: Silero VAD
    (:mod:`affectkit.audio.vad`) finds the speech, and a window holding less than
    :data:`~affectkit.audio.vad.MIN_SPEECH_S` seconds of it is left empty (NaN), so
    music, room noise or silence is never read as an emotion. The model's logits are
    divided by the temperature of its card's ``"calibration"`` entry before the softmax
    (temperature scaling, Guo et al. 2017; fitted on leave-one-speaker-out predictions,
    see ``scripts/ship_voice_model.py``); a card without one is used as it is (T = 1).

    Parameters
    ----------
    path : str or Path
        A video with an audio track, or a sound file.
    model : str or Path
        ``"default"`` (the bundled EmoDB voice model), an exported voice ``.onnx`` file,
        or an audio model ``.safetensors`` (:func:`affectkit.audio.models.save_audio_model`);
        see :func:`load_voice_model` (ONNX Runtime whenever the ``.onnx`` export exists).
    hop_s : float
        Seconds between window centres.
    vad : bool
        Find speech first (default). False runs the model on every window, speech or
        not (for experiments; its outputs on non-speech are meaningless).

    Attributes
    ----------
    status : str
        ``"ok"`` (speech in at least one window), ``"no speech"``, ``"no audio track"``
        or ``"silent"``; when not ``"ok"`` every lookup gives NaN.
    times : np.ndarray
        ``(W,)`` ``float64`` window centres, seconds (empty without audio).
    speech_s : np.ndarray
        ``(W,)`` ``float64`` seconds of speech found inside each window (NaN with
        ``vad=False``).
    speech : np.ndarray
        ``(W,)`` ``bool``: the window has at least ``MIN_SPEECH_S`` s of speech (all
        True with ``vad=False``).
    speech_fraction : float
        Fraction of the windows with speech; NaN when there are no windows (no audio
        track, silent track).
    proba : np.ndarray
        ``(W, 7)`` ``float64`` voice probabilities in
        :data:`~affectkit.expressions.EXPRESSIONS` order; NaN rows for windows without
        speech, and the *surprise* column (and any other class the model lacks) NaN.
    temperature : float
        The calibration temperature applied (1.0 when the card has none).
    note : str
        One line for the user on what was found, e.g. ``"speech in 3 of 24 voice
        windows (12 %); the voice columns are empty outside speech"``.
    window_s : float
        Window length, seconds.
    duration_s : float
        Length of the sound, seconds.

    Raises
    ------
    InputError
        If the file is missing or its audio cannot be decoded (a file without an audio
        track, a silent one or one without speech is not an error: see ``status``).
    WeightsError
        If the voice model, or the voice activity detector (``silero-vad`` package),
        cannot be loaded.
    """

    def __init__(self, path: str | Path, model: str | Path = "default", hop_s: float = 0.5, *, vad: bool = True):
        from affectkit.audio.features import HOP_S, window_centres, window_features
        from affectkit.audio.io import has_audio, is_silent, load_audio
        from affectkit.fusion import ClassMap

        self.path = Path(path)
        net, card = load_voice_model(bundled_voice_model() if str(model) == "default" else model)
        names = card["class_names"]
        self.class_map = ClassMap.build([names[c] for c in card["output_classes"]], EXPRESSIONS,
                                        drop=[c for c in VOICE_DROP if c in names])
        feats_card = card["features"]
        if feats_card["kind"] != "librosa":
            raise InputError(model, f"analyze --audio takes models on the librosa features, not {feats_card['kind']!r}")
        self.temperature = card_temperature(card)
        sr = int(feats_card["sample_rate"])
        self.window_s = float(feats_card.get("window_s") or 2.0)
        self.times = np.zeros(0)
        self.speech_s = np.zeros(0)
        self.speech = np.zeros(0, dtype=bool)
        self.speech_fraction = float("nan")
        self.duration_s = 0.0
        self.proba = np.zeros((0, len(EXPRESSIONS)))
        empty = "the voice columns are empty and the fused columns are the face's"
        if not has_audio(self.path):
            self.status, self.note = "no audio track", f"no audio track; {empty}"
            return
        wave = load_audio(self.path, sr, allow_silent=True)
        self.duration_s = len(wave) / sr
        if is_silent(wave):
            self.status, self.note = "silent", f"silent audio track; {empty}"
            return
        span = min(self.window_s, self.duration_s)  # a track shorter than a window is one window
        prob = None
        if vad:
            from affectkit.audio.vad import MIN_SPEECH_S, speech_probability, window_speech

            prob = speech_probability(wave, sr)
            # the window grid of window_features, so the pitch tracking (the slow part) is
            # skipped entirely for a track without speech
            self.times = window_centres(1 + len(wave) // int(round(HOP_S * sr)), self.window_s, hop_s)
            self.speech_s = window_speech(prob, self.times, span)
            if not (self.speech_s >= MIN_SPEECH_S).any():
                self._no_speech(empty)
                return
        self.times, feats = window_features(wave, sr, win_s=self.window_s, hop_s=hop_s)
        if vad:
            self.speech_s = window_speech(prob, self.times, span)
            self.speech = self.speech_s >= MIN_SPEECH_S
            if not self.speech.any():  # only if the estimated grid above differed from this one
                self._no_speech(empty)
                return
        else:
            self.speech_s = np.full(len(self.times), np.nan)
            self.speech = np.ones(len(self.times), dtype=bool)
        if feats_card.get("speaker_norm"):
            # The model was trained on per-speaker z-scored features; a clip is taken as one
            # speaker and normalised over its own speech windows (the transductive step of training).
            ref = feats[self.speech]
            feats = (feats - ref.mean(0)) / np.maximum(ref.std(0), 1e-6)
        proba = np.full((len(self.times), len(net.classes_)), np.nan)
        proba[self.speech] = _calibrated_proba(net, feats[self.speech], self.temperature)
        p = self.class_map.apply(proba)
        p[:, ~self.class_map.coverage] = np.nan
        self.proba = p
        k, w = int(self.speech.sum()), len(self.speech)
        self.speech_fraction = k / w
        self.status = "ok"
        self.note = f"speech in {k} of {w} voice windows ({100 * k / w:.0f} %)"
        if not vad:
            self.note = f"voice activity detection off: all {w} voice windows scored"
        elif k < w:
            self.note += "; the voice columns are empty outside speech"

    def _no_speech(self, empty: str) -> None:
        """State of a track in which no window holds speech (``times`` already set)."""
        self.speech = np.zeros(len(self.times), dtype=bool)
        self.speech_fraction = 0.0
        self.proba = np.full((len(self.times), len(EXPRESSIONS)), np.nan)
        self.status = "no speech"
        self.note = f"no speech (speech in 0 of {len(self.times)} voice windows, 0 %); {empty}"

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
            silence, no speech in the nearest window, or a time outside the sound).
        """
        times = np.asarray(times, dtype=np.float64).reshape(-1)
        out = np.full((len(times), len(EXPRESSIONS)), np.nan)
        if self.status != "ok" or len(self.times) == 0:
            return out
        rows = np.flatnonzero(np.isfinite(times) & (times >= 0) & (times <= self.duration_s))
        out[rows] = self.proba[nearest_indices(self.times, times[rows])]
        return out


def nearest_indices(frame_times: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Index of the window (or frame) time nearest to each requested time.

    Parameters
    ----------
    frame_times : np.ndarray
        ``(F,)`` increasing times, seconds.
    times : np.ndarray
        ``(T,)`` requested times, seconds.

    Returns
    -------
    np.ndarray
        ``(T,)`` ``int64`` indices into ``frame_times`` (ties go to the earlier one).
    """
    frame_times = np.asarray(frame_times, dtype=np.float64)
    times = np.asarray(times, dtype=np.float64)
    if len(frame_times) == 1:
        return np.zeros(len(times), dtype=np.int64)
    pos = np.clip(np.searchsorted(frame_times, times), 1, max(1, len(frame_times) - 1))
    left = frame_times[pos - 1]
    right = frame_times[np.minimum(pos, len(frame_times) - 1)]
    return np.where(np.abs(times - left) <= np.abs(right - times), pos - 1, pos).astype(np.int64)


class OnnxVoiceModel:
    """A voice model exported by ``affectkit export`` run with ONNX Runtime (no torch).

    The graph standardises the raw features with the card's mean and std and runs the
    MLP (:mod:`affectkit.audio.onnx_export`); :meth:`predict_logits` gives the same
    logits as :meth:`affectkit.audio.models.MLPClassifier.predict_logits` (to about
    1e-6, the export's check).

    Parameters
    ----------
    path : str or Path
        The ``.onnx`` file; its card is the ``.json`` beside it.
    threads : int, optional
        ONNX Runtime intra-op threads (None: its choice).

    Attributes
    ----------
    card : dict
    classes_ : np.ndarray
        ``(C,)`` ``int64`` class indices of the outputs (the card's ``output_classes``).

    Raises
    ------
    WeightsError
        If the file or card is missing or malformed, or the card is not a voice model's.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        from affectkit.errors import WeightsError, printable
        from affectkit.onnxrt import check_names, onnx_section, read_json, session

        self.path = Path(path)
        cp = self.path.with_suffix(".json")
        card = read_json(cp)
        if card.get("kind") != "voice":
            raise WeightsError(f"{printable(cp)}: not a voice model card (kind {card.get('kind')!r})")
        for key in ("class_names", "output_classes", "features"):
            if key not in card:
                raise WeightsError(f"{printable(cp)}: voice model card has no {key!r}")
        sec = onnx_section(card, cp)
        if "logits" not in sec["output_names"]:
            raise WeightsError(f"{printable(cp)}: the ONNX voice model has no 'logits' output (re-export it)")
        self.session = session(self.path, threads=threads, what="ONNX voice model")
        check_names(self.session, sec["input_names"], sec["output_names"], self.path)
        self._input = sec["input_names"][0]
        self.card = card
        self.classes_ = np.asarray(card["output_classes"], dtype=np.int64)

    def predict_logits(self, X: np.ndarray) -> np.ndarray:
        """``(M, C)`` ``float64`` logits of ``(M, D)`` raw features."""
        x = np.asarray(X, dtype=np.float32)
        return self.session.run(["logits"], {self._input: x})[0].astype(np.float64)


def load_voice_model(model: str | Path):
    """A voice model for inference: ONNX Runtime whenever an ``.onnx`` export exists.

    Parameters
    ----------
    model : str or Path
        An exported ``.onnx`` file, or a ``.safetensors`` voice model: its ``.onnx``
        export beside it is used when there is one; otherwise the torch model is loaded
        (:func:`affectkit.audio.models.load_audio_model`), which needs torch (the
        ``train`` extra).

    Returns
    -------
    model : OnnxVoiceModel or MLPClassifier
        Has ``predict_logits`` and ``classes_``.
    card : dict

    Raises
    ------
    WeightsError
        If the model cannot be loaded; for a ``.safetensors`` model without an export
        where torch is not installed, naming the ``affectkit export`` command.
    """
    from affectkit.errors import WeightsError, has_module, printable

    path = Path(model)
    onnx = path if path.suffix == ".onnx" else path.with_suffix(".onnx")
    if onnx.is_file():
        net = OnnxVoiceModel(onnx)
        return net, net.card
    if path.suffix == ".safetensors" and path.is_file() and not has_module("torch"):
        raise WeightsError(f"{printable(path)}: has no ONNX export beside it and torch is not installed: "
                           f"run `affectkit export {printable(path)} -o {printable(path.parent)}` "
                           f"(needs pip install 'affectkit[train]') where torch is")
    from affectkit.audio.models import load_audio_model

    return load_audio_model(path)


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


def card_temperature(card: dict) -> float:
    """The calibration temperature of an audio model card (1.0 when it has none).

    Parameters
    ----------
    card : dict
        As :func:`affectkit.audio.models.load_audio_model` returns it; temperature
        scaling (Guo et al. 2017) is stored as ``card["calibration"] = {"method":
        "temperature", "temperature": T, ...}``.

    Returns
    -------
    float
        ``T > 0``.

    Raises
    ------
    WeightsError
        If the card has a temperature calibration whose ``T`` is not a finite number
        > 0, or a calibration method affectkit does not know.
    """
    from affectkit.errors import WeightsError

    cal = card.get("calibration") or {}
    if not cal:
        return 1.0
    if cal.get("method") != "temperature":
        raise WeightsError(f"voice model card: unknown calibration method {cal.get('method')!r}")
    t = cal.get("temperature")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not np.isfinite(t) or t <= 0:
        raise WeightsError(f"voice model card: calibration temperature must be a finite number > 0, got {t!r}")
    return float(t)


def _calibrated_proba(net, feats: np.ndarray, temperature: float) -> np.ndarray:
    """``(M, C)`` ``softmax(logits / T)`` of an audio model (plain softmax for T = 1)."""
    from affectkit.audio.calibration import softmax

    if len(feats) == 0:
        return np.zeros((0, len(net.classes_)))
    if hasattr(net, "predict_logits"):
        return softmax(net.predict_logits(feats), temperature)
    # a model without logits: log-probabilities differ from the logits by a per-row constant
    return softmax(np.log(np.maximum(net.predict_proba(feats), 1e-300)), temperature)
