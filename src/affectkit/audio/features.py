"""Acoustic functionals for speech emotion: an eGeMAPS-like set from librosa, and
openSMILE's eGeMAPS / ComParE sets as an optional extra.

The default ``"librosa"`` set follows the design of eGeMAPS (Eyben et al. 2016, "The
Geneva Minimalistic Acoustic Parameter Set (GeMAPS) for voice research and affective
computing"): frame-level low-level descriptors (LLDs) every 10 ms, summarised over an
utterance by statistical functionals. It is computed only with permissively licensed
libraries (librosa, ISC; numpy/scipy, BSD):

* pitch: F0 from probabilistic YIN (``librosa.pyin``, Mauch & Dixon 2014) in semitones
  re 27.5 Hz, as eGeMAPS, and its voicing probability;
* energy: RMS level (dB) and a loudness proxy (mel power compressed with Stevens'
  exponent 0.3, summed over bands; not Zwicker loudness);
* spectrum: centroid, bandwidth, 85 % roll-off, flatness (a noisiness measure standing
  in for eGeMAPS's HNR, which librosa does not compute), flux (``onset_strength`` on the
  log-mel spectrogram), zero-crossing rate, alpha ratio, Hammarberg index, spectral
  slopes 0-500 Hz and 500-1500 Hz, octave-band spectral contrast;
* MFCC 1-13 and their deltas;
* timing: voiced fraction, voiced segments per second, mean/std voiced and unvoiced
  segment lengths.

Functionals are means, standard deviations, 20/50/80th percentiles and their range,
and mean rising/falling slopes for F0 and loudness, computed over the active frames
(within 50 dB of the loudest frame, so zero padding and leading/trailing silence do not
count) and, for the spectral-balance LLDs, separately over voiced and unvoiced frames
as eGeMAPS does. Formants, jitter and shimmer are *not* included: librosa has no
robust estimator for them and a rough approximation would misname what it measures.

The ``"egemaps"`` (88 eGeMAPSv02 functionals) and ``"compare"`` (6373 ComParE 2016
functionals) sets need the ``opensmile`` package (``pip install affectkit[opensmile]``).
openSMILE is distributed under audEERING's research licence: free for private,
research and educational use only, **not for commercial use**.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.audio.dataset import AudioSet

FEATURE_KINDS = ("librosa", "egemaps", "compare")
"""Feature sets :func:`extract_features` can compute."""

FEATURES_VERSION = 1
"""Bumped whenever the librosa set changes, so old cache files are not reused."""

SAMPLE_RATE = 16000
"""Rate, Hz, audio is resampled to before feature extraction."""

HOP_S = 0.010  # LLD frame step (10 ms, as eGeMAPS)
N_FFT = 512  # 32 ms spectral frames at 16 kHz
PITCH_FRAME = 1024  # 64 ms pitch frames (eGeMAPS: 60 ms): about four periods of the lowest F0
FMIN, FMAX = 60.0, 600.0  # F0 search range, Hz: low male to high aroused female voices
PYIN_RESOLUTION = 0.25  # semitone fraction of pyin's pitch grid; 0.1 is 5x slower for ~0.05 st
ACTIVE_DB = 50.0  # frames more than 50 dB below the loudest are silence/padding
N_MFCC = 13
N_MELS = 40
CONTRAST_BANDS = 6

_STATS = ("mean", "std", "p20", "p50", "p80", "range")
_SHORT = ("mean", "std")
_TIMING = ("voiced_fraction", "voiced_segments_per_s", "voiced_len_mean", "voiced_len_std",
           "unvoiced_len_mean", "unvoiced_len_std")


def _spec() -> list[tuple[str, tuple[str, ...], str]]:
    """(LLD, functionals, frames) in output order; frames: active / voiced / unvoiced."""
    spec = [
        ("f0_semitone", _STATS + ("rise", "fall"), "voiced"),
        ("voicing_prob", _SHORT, "active"),
        ("loudness", _STATS + ("rise", "fall"), "active"),
        ("rms_db", _STATS, "active"),
    ]
    for name in ("centroid", "bandwidth", "rolloff", "flatness", "flux", "zcr"):
        spec.append((name, _STATS, "active"))
    for name in ("alpha_ratio", "hammarberg", "slope_0_500", "slope_500_1500"):
        spec += [(name, _SHORT, "voiced"), (name, ("mean",), "unvoiced")]
    for b in range(CONTRAST_BANDS + 1):
        spec.append((f"contrast{b}", _SHORT, "active"))
    for k in range(1, N_MFCC + 1):
        spec.append((f"mfcc{k}", _STATS, "active"))
    for k in range(1, N_MFCC + 1):
        spec.append((f"dmfcc{k}", _SHORT, "active"))
    return spec


@lru_cache(maxsize=1)
def _librosa_names() -> tuple[str, ...]:
    names = [f"{lld}_{fn}" + ("" if frames == "active" else f"_{frames}") for lld, fns, frames in _spec() for fn in fns]
    return tuple(names + list(_TIMING))


def feature_names(kind: str = "librosa") -> tuple[str, ...]:
    """Names of the features :func:`extract_features` returns, in column order.

    Parameters
    ----------
    kind : {"librosa", "egemaps", "compare"}
        ``librosa``: this module's eGeMAPS-like set. ``egemaps``/``compare``: openSMILE's
        eGeMAPSv02 / ComParE_2016 functionals (needs ``opensmile``).

    Returns
    -------
    tuple of str
        ``D`` names (``librosa``: ``"<lld>_<functional>[_voiced|_unvoiced]"`` plus timing
        features).

    Raises
    ------
    ValueError
        Unknown kind.
    ImportError
        ``egemaps``/``compare`` without the ``opensmile`` package.
    """
    _check_kind(kind)
    if kind == "librosa":
        return _librosa_names()
    return tuple(_smile(kind).feature_names)


def _check_kind(kind: str) -> None:
    if kind not in FEATURE_KINDS:
        raise ValueError(f"feature kind must be one of {FEATURE_KINDS}, got {kind!r}")


@lru_cache(maxsize=2)
def _smile(kind: str):
    """An openSMILE functionals extractor (imported lazily: it is an optional extra)."""
    try:
        import opensmile
    except ImportError:
        raise ImportError(
            f"feature kind {kind!r} needs openSMILE: pip install 'affectkit[opensmile]' (or pip install opensmile). "
            "Note: openSMILE's licence allows private, research and educational use only, not commercial use; "
            "the default 'librosa' features have no such restriction."
        ) from None
    sets = {"egemaps": opensmile.FeatureSet.eGeMAPSv02, "compare": opensmile.FeatureSet.ComParE_2016}
    return opensmile.Smile(feature_set=sets[kind], feature_level=opensmile.FeatureLevel.Functionals)


# ----------------------------------------------------------------------------- LLDs


def _slope(power: np.ndarray, freqs: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Per-frame least-squares slope, dB/kHz, of the log power spectrum between lo and hi Hz."""
    band = (freqs >= lo) & (freqs <= hi)
    f = freqs[band] / 1000.0
    y = 10 * np.log10(power[band] + 1e-10)
    fc = f - f.mean()
    return (fc @ (y - y.mean(0))) / (fc @ fc)


def low_level_descriptors(wave: np.ndarray, sr: int = SAMPLE_RATE) -> dict[str, np.ndarray]:
    """Frame-level descriptors every 10 ms (the LLDs the functionals summarise).

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float mono samples in ``[-1, 1]``.
    sr : int
        Sample rate, Hz (16 kHz recommended: the set was designed at that rate).

    Returns
    -------
    dict
        Name -> ``(T,)`` ``float64`` with ``T = 1 + N // hop`` frames centred at
        ``t * 0.010`` s. ``f0_semitone`` is NaN in unvoiced frames; ``voiced`` and
        ``active`` are boolean masks. Keys: see the module docstring.

    Raises
    ------
    ValueError
        If the wave is shorter than one pitch frame (64 ms) or not 1-D.
    """
    import librosa

    wave = np.asarray(wave, dtype=np.float32)
    hop = int(round(HOP_S * sr))
    n_fft = int(2 ** np.ceil(np.log2(N_FFT * sr / SAMPLE_RATE)))
    pitch_frame = int(2 ** np.ceil(np.log2(PITCH_FRAME * sr / SAMPLE_RATE)))
    if wave.ndim != 1 or len(wave) < pitch_frame:
        raise ValueError(f"need a 1-D wave of at least {pitch_frame / sr:.3f} s, got shape {wave.shape}")
    f0, voiced, vprob = librosa.pyin(wave, fmin=FMIN, fmax=FMAX, sr=sr, frame_length=pitch_frame,
                                     hop_length=hop, resolution=PYIN_RESOLUTION)
    stft = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop)) ** 2
    freqs = librosa.fft_frequencies(sr=sr, n_fft=n_fft)
    mel = librosa.feature.melspectrogram(S=stft, sr=sr, n_mels=N_MELS)
    mel_db = librosa.power_to_db(mel, ref=1.0, top_db=None)
    rms = librosa.feature.rms(S=np.sqrt(stft), frame_length=n_fft)[0]
    t = min(len(f0), stft.shape[1])

    def band_power(lo, hi, how):
        band = (freqs >= lo) & (freqs < hi)
        return how(stft[band], axis=0) + 1e-10

    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=N_MFCC + 1)[1:]  # c0 is the loudness, kept separately
    d = {
        "f0_semitone": 12 * np.log2(f0 / 27.5),
        "voicing_prob": vprob,
        "loudness": (mel ** 0.3).sum(0),
        "rms_db": 20 * np.log10(rms + 1e-10),
        "centroid": librosa.feature.spectral_centroid(S=np.sqrt(stft), sr=sr)[0],
        "bandwidth": librosa.feature.spectral_bandwidth(S=np.sqrt(stft), sr=sr)[0],
        "rolloff": librosa.feature.spectral_rolloff(S=np.sqrt(stft), sr=sr, roll_percent=0.85)[0],
        "flatness": librosa.feature.spectral_flatness(S=np.sqrt(stft))[0],
        "flux": librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=hop, center=False),
        "zcr": librosa.feature.zero_crossing_rate(wave, frame_length=n_fft, hop_length=hop)[0],
        # eGeMAPS spectral balance: energy below/above 1 kHz, peak below/above 2 kHz (dB)
        "alpha_ratio": 10 * np.log10(band_power(50, 1000, np.sum) / band_power(1000, 5000, np.sum)),
        "hammarberg": 10 * np.log10(band_power(0, 2000, np.max) / band_power(2000, 5000, np.max)),
        "slope_0_500": _slope(stft, freqs, 0, 500),
        "slope_500_1500": _slope(stft, freqs, 500, 1500),
    }
    contrast = librosa.feature.spectral_contrast(S=np.sqrt(stft), sr=sr, n_bands=CONTRAST_BANDS, fmin=100.0)
    for b in range(CONTRAST_BANDS + 1):
        d[f"contrast{b}"] = contrast[b]
    dmfcc = librosa.feature.delta(mfcc, width=9, mode="nearest") if mfcc.shape[1] >= 9 else np.zeros_like(mfcc)
    for k in range(N_MFCC):
        d[f"mfcc{k + 1}"] = mfcc[k]
        d[f"dmfcc{k + 1}"] = dmfcc[k]
    # flux (no centre padding) is one frame short; align every LLD to the common length
    out = {key: np.asarray(np.pad(v, (0, max(0, t - len(v))), mode="edge")[:t], dtype=np.float64)
           for key, v in d.items()}
    out["active"] = out["rms_db"] >= out["rms_db"].max() - ACTIVE_DB
    out["voiced"] = np.asarray(voiced[:t], dtype=bool) & out["active"]
    return out


# ----------------------------------------------------------------------- functionals


def _stats(x: np.ndarray, fns: Sequence[str]) -> list[float]:
    """The named functionals of one series (already restricted to its frames); 0 if empty."""
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return [0.0] * len(fns)  # e.g. no voiced frame: neutral value, no NaN for the models
    p20, p50, p80 = np.percentile(x, (20, 50, 80))
    diffs = np.diff(x)
    table = {
        "mean": x.mean(), "std": x.std(), "p20": p20, "p50": p50, "p80": p80, "range": p80 - p20,
        "rise": diffs[diffs > 0].mean() / HOP_S if (diffs > 0).any() else 0.0,
        "fall": -diffs[diffs < 0].mean() / HOP_S if (diffs < 0).any() else 0.0,
    }
    return [float(table[f]) for f in fns]


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lengths (frames) of the runs of True and of False in a boolean series."""
    if len(mask) == 0:
        return np.zeros(0), np.zeros(0)
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [len(mask)]])
    lengths = np.diff(bounds)
    values = mask[bounds[:-1]]
    return lengths[values], lengths[~values]


def _functionals(llds: dict[str, np.ndarray], sl: slice = slice(None)) -> np.ndarray:
    """The librosa feature vector of the frames ``sl`` of :func:`low_level_descriptors`."""
    active = llds["active"][sl]
    masks = {"active": active, "voiced": llds["voiced"][sl], "unvoiced": active & ~llds["voiced"][sl]}
    if not active.any():
        masks["active"] = np.ones_like(active)  # a window of pure silence: use every frame
    values: list[float] = []
    for lld, fns, frames in _spec():
        values += _stats(llds[lld][sl][masks[frames]], fns)
    # timing over the active stretch only, so padding and pauses at the ends do not count
    on = np.flatnonzero(masks["active"])
    span = masks["voiced"][on[0]: on[-1] + 1]
    v_runs, u_runs = _runs(span)
    dur = max(len(span) * HOP_S, HOP_S)
    values += [float(span.mean()), len(v_runs) / dur,
               *((v_runs.mean() * HOP_S, v_runs.std() * HOP_S) if len(v_runs) else (0.0, 0.0)),
               *((u_runs.mean() * HOP_S, u_runs.std() * HOP_S) if len(u_runs) else (0.0, 0.0))]
    return np.asarray(values, dtype=np.float32)


def extract_functionals(wave: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """The eGeMAPS-like librosa feature vector of one utterance (Eyben et al. 2016 design).

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float mono samples in ``[-1, 1]``, at least 64 ms long.
    sr : int
        Sample rate, Hz.

    Returns
    -------
    np.ndarray
        ``(D,)`` ``float32``, finite, in the order of ``feature_names("librosa")``. Pitch
        features are in semitones re 27.5 Hz, levels in dB, frequencies in Hz, slopes in
        dB/kHz, durations in seconds, rates per second. Functionals of frames that do
        not exist (e.g. pitch of unvoiced audio) are 0.

    Raises
    ------
    ValueError
        If the wave is too short or not 1-D.
    """
    return _functionals(low_level_descriptors(wave, sr))


def window_features(
    wave: np.ndarray, sr: int = SAMPLE_RATE, win_s: float = 2.0, hop_s: float = 0.5, *, chunk_s: float = 60.0
) -> tuple[np.ndarray, np.ndarray]:
    """Librosa functionals over sliding windows of a long track (e.g. a video's audio).

    The LLDs are computed once (in chunks of ``chunk_s`` seconds, so memory stays
    bounded) and summarised per window, so a window's vector matches
    :func:`extract_functionals` of that stretch up to frame-edge effects.

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float mono samples in ``[-1, 1]``.
    sr : int
        Sample rate, Hz.
    win_s, hop_s : float
        Window length and step, seconds. A track shorter than ``win_s`` gives one
        window over the whole track.
    chunk_s : float
        Seconds of audio per LLD pass; pyin's pitch tracking is smoothed within a chunk.

    Returns
    -------
    times : np.ndarray
        ``(W,)`` ``float64`` window centres, seconds from the start of the track.
    features : np.ndarray
        ``(W, D)`` ``float32`` in the order of ``feature_names("librosa")``.

    Raises
    ------
    ValueError
        If ``win_s``/``hop_s`` are not positive or the track is shorter than 64 ms.
    """
    if win_s <= 0 or hop_s <= 0 or chunk_s < win_s:
        raise ValueError(f"need win_s > 0, hop_s > 0 and chunk_s >= win_s, got {win_s}, {hop_s}, {chunk_s}")
    wave = np.asarray(wave, dtype=np.float32)
    hop = int(round(HOP_S * sr))
    chunk = int(round(chunk_s / HOP_S)) * hop
    parts: list[dict[str, np.ndarray]] = []
    for start in range(0, len(wave), chunk):
        piece = wave[start: start + chunk]
        if len(piece) < int(0.064 * sr) and parts:
            break  # a sliver at the end: its frames are covered by the previous chunk's padding
        parts.append(low_level_descriptors(piece, sr))
        # drop the centre-padding frame at the chunk's end so chunks join on the 10 ms grid
        if start + chunk < len(wave):
            parts[-1] = {k: v[: chunk // hop] for k, v in parts[-1].items()}
    llds = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    if len(parts) > 1:  # "active" is relative to the loudest frame of the whole track
        llds["active"] = llds["rms_db"] >= llds["rms_db"].max() - ACTIVE_DB
        llds["voiced"] &= llds["active"]
    n = len(llds["active"])
    win, step = max(1, int(round(win_s / HOP_S))), max(1, int(round(hop_s / HOP_S)))
    starts = np.arange(0, max(n - win, 0) + 1, step)
    feats = np.stack([_functionals(llds, slice(s, min(s + win, n))) for s in starts])
    return window_centres(n, win_s, hop_s), feats


def window_centres(n_frames: int, win_s: float = 2.0, hop_s: float = 0.5) -> np.ndarray:
    """Centres of the windows :func:`window_features` summarises, from the LLD frame count.

    Parameters
    ----------
    n_frames : int
        Number of 10 ms LLD frames of the track (``1 + n_samples // hop`` for a track
        decoded in one piece, as :func:`low_level_descriptors` gives).
    win_s, hop_s : float
        Window length and step, seconds.

    Returns
    -------
    np.ndarray
        ``(W,)`` ``float64`` seconds; one window (over everything) when the track is
        shorter than ``win_s``.
    """
    win, step = max(1, int(round(win_s / HOP_S))), max(1, int(round(hop_s / HOP_S)))
    starts = np.arange(0, max(n_frames - win, 0) + 1, step)
    return ((starts + min(win, n_frames) / 2) * HOP_S).astype(np.float64)


# ------------------------------------------------------------------ batched + cached


def _cache_key(paths: Sequence[str], kind: str, sr: int) -> str:
    h = hashlib.md5(json.dumps([kind, sr, FEATURES_VERSION]).encode())
    for p in paths:
        st = Path(p).stat()
        h.update(f"{Path(p).resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:20]


def _one(path: str, kind: str, sr: int) -> np.ndarray:
    from affectkit.audio.io import load_audio

    wave = load_audio(path, sr)
    if kind == "librosa":
        return extract_functionals(wave, sr)
    return _smile(kind).process_signal(wave, sr).to_numpy(dtype=np.float32)[0]


def extract_features(
    audio: AudioSet | Sequence[str],
    kind: str = "librosa",
    *,
    sr: int = SAMPLE_RATE,
    cache: bool | str | Path = True,
    n_jobs: int = 1,
    progress: bool = False,
) -> np.ndarray:
    """Utterance-level functionals of every file of an audio set, cached on disk.

    Parameters
    ----------
    audio : AudioSet or sequence of str
        The recordings (paths).
    kind : {"librosa", "egemaps", "compare"}
        ``librosa``: the eGeMAPS-like set of this module. ``egemaps`` / ``compare``:
        openSMILE eGeMAPSv02 (88) / ComParE_2016 (6373) functionals (Eyben et al. 2016;
        Schuller et al. 2016); these need ``pip install 'affectkit[opensmile]'`` and
        openSMILE's licence forbids commercial use.
    sr : int
        Rate, Hz, files are resampled to.
    cache : bool or path
        True: ``$AFFECTKIT_CACHE/audio_features`` (:func:`affectkit.paths.cache_dir`);
        a path: that folder; False: no cache. The key covers the kind, rate, feature
        version and every file's path, size and modification time.
    n_jobs : int
        Parallel worker processes (joblib).
    progress : bool
        Show a tqdm bar.

    Returns
    -------
    np.ndarray
        ``(N, D)`` ``float32``, columns in ``feature_names(kind)`` order.

    Raises
    ------
    InputError
        A file is missing, corrupt, empty or silent (see
        :func:`affectkit.audio.io.load_audio`).
    ImportError
        ``egemaps``/``compare`` without openSMILE, with the install command.
    ValueError
        Unknown kind or an empty list of files.
    """
    _check_kind(kind)
    paths = list(audio.names if isinstance(audio, AudioSet) else map(str, audio))
    if not paths:
        raise ValueError("extract_features got no files")
    if kind != "librosa":
        _smile(kind)  # fail before any work when openSMILE is missing
    file = None
    if cache is not False:
        from affectkit.paths import cache_dir

        folder = cache_dir() / "audio_features" if cache is True else Path(cache)
        file = folder / f"{kind}-{_cache_key(paths, kind, sr)}.npy"
        if file.is_file():
            return np.load(file)
    if progress:
        from tqdm import tqdm

        paths_iter = tqdm(paths, desc=f"{kind} features", unit="file")
    else:
        paths_iter = paths
    if n_jobs == 1:
        rows = [_one(p, kind, sr) for p in paths_iter]
    else:
        from joblib import Parallel, delayed

        rows = Parallel(n_jobs=n_jobs)(delayed(_one)(p, kind, sr) for p in paths_iter)
    x = np.stack(rows).astype(np.float32)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_name(f".{file.stem}.tmp.npy")
        np.save(tmp, x)
        tmp.replace(file)
    return x
