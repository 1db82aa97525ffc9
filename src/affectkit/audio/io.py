"""Read speech audio from sound files and from the audio track of videos.

Sound files (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...) are decoded with soundfile
(libsndfile); anything libsndfile cannot read, video containers included, is decoded
with PyAV (FFmpeg). Audio is returned as mono ``float32`` in ``[-1, 1]`` at the
requested sample rate. Every problem the user can fix (missing file, no audio track,
empty, corrupt or silent audio) raises :class:`~affectkit.errors.InputError` with the
path, never a library traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectkit.errors import InputError

SOUND_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".au", ".w64", ".rf64"})
"""Suffixes tried with soundfile first (PyAV is the fallback for these and reads the rest)."""

SILENCE_DBFS = -60.0
"""Default silence threshold: a track whose peak stays below -60 dBFS (0.001) is silent."""


def peak_dbfs(wave: np.ndarray) -> float:
    """Peak level of a waveform in dB relative to full scale.

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float samples in ``[-1, 1]``.

    Returns
    -------
    float
        ``20 log10(max |x|)``; ``-inf`` for an all-zero or empty wave.
    """
    peak = float(np.max(np.abs(wave))) if len(wave) else 0.0
    return 20.0 * np.log10(peak) if peak > 0 else float("-inf")


def is_silent(wave: np.ndarray, threshold_dbfs: float = SILENCE_DBFS) -> bool:
    """True if every sample is below ``threshold_dbfs`` (digital silence, hiss, dither).

    Parameters
    ----------
    wave : np.ndarray
        ``(N,)`` float samples in ``[-1, 1]``.
    threshold_dbfs : float
        Peak level, dB full scale, at or below which the wave counts as silent.

    Returns
    -------
    bool
    """
    return peak_dbfs(wave) <= threshold_dbfs


def _ffmpeg_message(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputError(path, "no such file")
    if path.is_dir():
        raise InputError(path, "is a folder, not an audio or video file")
    if path.stat().st_size == 0:
        raise InputError(path, "file is empty (0 bytes)")


def _read_soundfile(path: Path) -> tuple[np.ndarray, int] | None:
    """``((N,) float32 mono, native rate)`` via libsndfile, or None if it cannot read the file."""
    import soundfile as sf

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        return None  # not a libsndfile format (or damaged): let FFmpeg try
    return data.mean(axis=1), int(rate)


def _read_pyav(path: Path, sr: int) -> np.ndarray:
    """Decode the first audio stream with PyAV, downmixed to mono and resampled to ``sr``.

    FFmpeg's resampler (libswresample) does downmix and rate conversion while decoding,
    so a long video's audio never sits in memory at its native rate and channel count.
    """
    import av

    try:
        container = av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"cannot decode audio: corrupt or unsupported format ({_ffmpeg_message(exc)})") from None
    chunks: list[np.ndarray] = []
    with container:
        if not container.streams.audio:
            raise InputError(path, "has no audio track")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush the resampler's delay line
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            n = sum(len(c) for c in chunks)
            where = "no sample could be decoded" if n == 0 else f"decoding stopped after {n / sr:.2f} s"
            raise InputError(path, f"corrupt or truncated audio, {where} ({_ffmpeg_message(exc)})") from None
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def has_audio(path: str | Path) -> bool:
    """Whether a sound or video file has an audio track.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    bool
        True for a readable sound file or a container with at least one audio stream;
        False for a container (e.g. a video) without one.

    Raises
    ------
    InputError
        If the file is missing, a folder, empty, or neither libsndfile nor FFmpeg can
        open it.
    """
    import av
    import soundfile as sf

    path = Path(path)
    _check_file(path)
    try:
        sf.info(str(path))
        return True
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(path, f"cannot open: corrupt or unsupported format ({_ffmpeg_message(exc)})") from None


def load_audio(
    path: str | Path,
    sr: int = 16000,
    *,
    allow_silent: bool = False,
    silence_dbfs: float = SILENCE_DBFS,
) -> np.ndarray:
    """Read a sound file, or the first audio track of a video, as mono float32 at ``sr`` Hz.

    Sound files are read with soundfile (libsndfile: WAV, FLAC, OGG, MP3, ...), channels
    averaged and resampled with librosa (soxr, high quality). Other files, and sound
    files libsndfile rejects, are decoded with PyAV (FFmpeg), downmixed and resampled
    by FFmpeg's libswresample.

    Parameters
    ----------
    path : str or Path
        Sound or video file.
    sr : int
        Target sample rate, Hz.
    allow_silent : bool
        Return silent audio instead of raising (e.g. a video's muted track, when the
        caller wants to report "no voice" per frame itself). See :func:`is_silent`.
    silence_dbfs : float
        Silence threshold, dB full scale, used when ``allow_silent`` is False.

    Returns
    -------
    np.ndarray
        ``(N,)`` ``float32`` samples in ``[-1, 1]`` at ``sr`` Hz, ``N >= 1``.

    Raises
    ------
    InputError
        If the file is missing, a folder, empty (0 bytes), has no audio track, cannot
        be decoded (corrupt or unsupported), decodes to 0 samples, or is silent (peak
        at or below ``silence_dbfs``) while ``allow_silent`` is False.
    ValueError
        If ``sr`` is not a positive integer.
    """
    if int(sr) != sr or sr <= 0:
        raise ValueError(f"sr must be a positive integer (Hz), got {sr!r}")
    sr = int(sr)
    path = Path(path)
    _check_file(path)
    read = _read_soundfile(path) if path.suffix.lower() in SOUND_SUFFIXES else None
    if read is not None:
        wave, rate = read
        if len(wave) and rate != sr:
            import librosa

            wave = librosa.resample(wave, orig_sr=rate, target_sr=sr)
    else:
        wave = _read_pyav(path, sr)
    if len(wave) == 0:
        raise InputError(path, "audio is empty (0 samples)")
    wave = np.ascontiguousarray(wave, dtype=np.float32)
    if not np.isfinite(wave).all():
        raise InputError(path, "audio holds NaN or infinite samples (corrupt file)")
    if not allow_silent and is_silent(wave, silence_dbfs):
        raise InputError(path, f"audio is silent (peak {peak_dbfs(wave):.1f} dBFS <= {silence_dbfs:.0f} dBFS)")
    return wave
