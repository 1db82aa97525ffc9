"""Build an audio-visual test clip: a real face video with real emotional speech over it.

A test-media builder (used by the tests, ``scripts/make_av_clip.py`` and
``benchmarks/voice_model.py``), not used by any command; it used to live in ``io``.

No paired audio-visual emotion corpus is available to the project, and the shared
sample videos carry no usable speech (``WolfgangLanger_Pexels.mp4`` has a digitally
silent track; ``no_face.mp4``, ``face_noface.mov`` and ``noface_face.mov`` share one
4 s ambient/tonal track without speech; ``single_face.mp4`` has only low-level room
noise). :func:`make_av_clip` therefore keeps a video's frames and replaces its audio
with EmoDB utterances (Burkhardt et al. 2005, acted German speech), so the voice path
of ``affectkit analyze --audio`` and late fusion can be exercised end to end on a
real file. The face and the voice are of different people: the clip is for plumbing,
never for measuring audio-visual accuracy.

How the clip is made:

* the video stream's packets are copied unchanged (no re-encoding, identical frames);
* the source's audio track(s) are dropped (and described in the record);
* the given WAV files, in order (cycling if they are too short), are concatenated with
  ``gap`` seconds of silence between them until they cover the video's duration; the
  last one is cut at the video's end;
* the result is encoded as mono AAC (``.mp4``/``.m4v``/``.mov``/``.mkv``) or 16-bit
  PCM (``.mov``/``.mkv``) at the WAVs' sample rate, starting at time 0;
* which files were used, and at which times, is written both to the container's
  ``comment`` metadata tag (compact JSON; Matroska shows it as ``COMMENT``) and to a
  sidecar ``<out>.json``.

Both files are written atomically (temporary file in the same folder, then rename).
"""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Sequence

import numpy as np

from affectkit.audio.corpora import EMODB_EMOTIONS  # EmoDB letter -> emotion name (W -> anger, ...)
from affectkit.errors import InputError

_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
_CODECS = {"aac": "fltp", "pcm_s16le": "s16"}  # codec -> sample format the encoder takes


def emodb_emotion(path: str | Path) -> str:
    """Canonical emotion of an EmoDB file from its name (``03a01Wa.wav`` -> ``"anger"``).

    Raises
    ------
    ValueError
        If the name is not an EmoDB name (7 characters + suffix, known letter at index 5).
    """
    name = Path(path).name
    letter = name[5] if len(name) > 5 else ""
    if letter not in EMODB_EMOTIONS or len(Path(path).stem) != 7:
        raise ValueError(f"{name}: not an EmoDB file name (expected e.g. 03a01Wa.wav, emotion letter at index 5)")
    return EMODB_EMOTIONS[letter]


def select_emodb(folder: str | Path, emotion: str | None = None) -> list[Path]:
    """EmoDB WAV files of a folder, sorted by name, optionally of one emotion.

    Parameters
    ----------
    folder : str or Path
        Folder of EmoDB ``*.wav`` files.
    emotion : str, optional
        Canonical name (``"anger"``) or EmoDB letter (``"W"``).

    Returns
    -------
    list of Path

    Raises
    ------
    InputError
        If the folder is missing or has no matching file.
    ValueError
        If ``emotion`` is unknown.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(folder, "EmoDB folder not found")
    if emotion is not None:
        emotion = EMODB_EMOTIONS.get(emotion, emotion)
        if emotion not in EMODB_EMOTIONS.values():
            raise ValueError(f"unknown EmoDB emotion {emotion!r}; one of {sorted(EMODB_EMOTIONS.values())} or letters")
    files = []
    for f in sorted(folder.glob("*.wav")):
        try:
            if emotion is None or emodb_emotion(f) == emotion:
                files.append(f)
        except ValueError:
            continue
    if not files:
        raise InputError(folder, f"no EmoDB wav files{'' if emotion is None else ' of ' + emotion}")
    return files


def _read_wav(path: Path, rate: int | None) -> tuple[np.ndarray, int]:
    """``((N,) float32 mono in [-1, 1], rate)``, resampled to ``rate`` when given."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise InputError(path, f"cannot read audio ({exc})") from None
    x = data.mean(axis=1)
    if rate is not None and sr != rate:
        frac = Fraction(rate, sr)
        x = resample_poly(x, frac.numerator, frac.denominator).astype(np.float32)
        sr = rate
    if not len(x):
        raise InputError(path, "audio file is empty")
    return x, sr


def _video_info(path: Path) -> dict:
    import av

    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                raise InputError(path, "no video stream in file")
            v = c.streams.video[0]
            if v.duration is not None and v.time_base is not None:
                duration = float(v.duration * v.time_base)
            elif v.frames and v.average_rate:
                duration = v.frames / float(v.average_rate)
            elif c.duration:
                duration = c.duration / 1e6
            else:
                raise InputError(path, "video duration unknown")
            audio = [
                {
                    "codec": a.codec_context.name,
                    "sample_rate": a.rate,
                    "channels": a.codec_context.channels,
                    "duration_s": None if a.duration is None else round(float(a.duration * a.time_base), 3),
                }
                for a in c.streams.audio
            ]
            return {
                "duration": duration,
                "codec": v.codec_context.name,
                "frames": int(v.frames),
                "size": [v.codec_context.width, v.codec_context.height],
                "audio": audio,
            }
    except av.error.FFmpegError as exc:
        raise InputError(path, f"cannot open video ({exc.strerror or type(exc).__name__})") from None


def make_av_clip(
    video: str | Path,
    wavs: Sequence[str | Path],
    out: str | Path,
    *,
    gap: float = 0.0,
    codec: str = "aac",
    sample_rate: int | None = None,
    bit_rate: int = 128_000,
) -> dict:
    """Copy a video's frames and put speech from WAV files under them as its audio track.

    Parameters
    ----------
    video : str or Path
        Source video (any container PyAV reads); its audio, if any, is replaced.
    wavs : sequence of str or Path
        Speech files, used in this order, cycling if needed, until the video's duration
        is covered (e.g. :func:`select_emodb`). Not all need to be used.
    out : str or Path
        Output ``.mp4``, ``.m4v``, ``.mov`` or ``.mkv``; its folder must exist. A
        sidecar ``<out>.json`` (e.g. ``clip.mp4.json``) is written beside it.
    gap : float
        Seconds of silence between utterances (>= 0).
    codec : {"aac", "pcm_s16le"}
        Audio codec; PCM only in ``.mov``/``.mkv``.
    sample_rate : int, optional
        Output rate in Hz; default the first WAV's rate (others are resampled to it).
    bit_rate : int
        AAC bit rate, bits per second.

    Returns
    -------
    dict
        The record also written to the sidecar: ``output``, ``sidecar``, ``video``
        (source path), ``duration_s`` (video stream duration = audio length, seconds),
        ``sample_rate`` (Hz), ``audio_samples`` (int, audio length before encoding),
        ``audio_codec``, ``video_codec`` (copied), ``frames``,
        ``replaced_audio`` (list describing the source's audio tracks),
        ``segments`` (list of ``{"file", "emotion", "start_sample", "n_samples",
        "start_s", "end_s", "source_end_s", "truncated"}``: the first ``n_samples`` of
        ``file`` (at ``sample_rate``) lie from ``start_sample`` on, i.e. from
        ``start_s`` to ``end_s`` seconds on the output's timeline; ``emotion`` is None
        for non-EmoDB names) and ``how`` (one sentence).

    Raises
    ------
    InputError
        If the video or a WAV is missing/unreadable, the video has no video stream, or
        the output folder does not exist.
    ValueError
        If ``wavs`` is empty, ``gap`` is negative, the codec or suffix is unsupported,
        or PCM is asked for in an MP4.
    """
    import av

    from affectkit.io.write import atomic_path, write_json_atomic

    video, out = Path(video), Path(out)
    wavs = [Path(w) for w in wavs]
    if not video.is_file():
        raise InputError(video, "no such file")
    if not wavs:
        raise ValueError("make_av_clip needs at least one wav file")
    if gap < 0:
        raise ValueError(f"gap must be >= 0 seconds, got {gap}")
    fmt = _FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ValueError(f"{out}: output must end in one of {sorted(_FORMATS)}")
    if codec not in _CODECS:
        raise ValueError(f"codec must be one of {sorted(_CODECS)}, got {codec!r}")
    if codec.startswith("pcm") and fmt == "mp4":
        raise ValueError(f"{out}: PCM audio needs a .mov or .mkv container, not MP4")
    if not out.parent.is_dir():
        raise InputError(out, f"output folder {out.parent} does not exist")

    info = _video_info(video)
    duration = info["duration"]
    cache: dict[Path, np.ndarray] = {}
    first, sr = _read_wav(wavs[0], sample_rate)
    cache[wavs[0]] = first
    n_total = int(round(duration * sr))
    wave = np.zeros(n_total, dtype=np.float32)
    segments, t, i = [], 0, 0
    gap_n = int(round(gap * sr))
    while t < n_total:
        path = wavs[i % len(wavs)]
        if path not in cache:
            cache[path] = _read_wav(path, sr)[0]
        x = cache[path]
        take = min(len(x), n_total - t)
        wave[t:t + take] = x[:take]
        try:
            emotion = emodb_emotion(path)
        except ValueError:
            emotion = None
        segments.append({
            "file": str(path),
            "emotion": emotion,
            "start_sample": t,
            "n_samples": take,
            "start_s": round(t / sr, 6),
            "end_s": round((t + take) / sr, 6),
            "source_end_s": round(take / sr, 6),
            "truncated": take < len(x),
        })
        t += take + gap_n
        i += 1

    how = (
        f"video packets of {video.name} copied unchanged; its audio replaced by {len(segments)} speech "
        f"segment(s) concatenated with {gap:g} s gaps, cut at the video's end ({duration:.3f} s), "
        f"encoded as mono {codec} at {sr} Hz from t=0"
    )
    sidecar = out.with_name(out.name + ".json")
    record = {
        "format": "affectkit.av_clip/1",
        "output": str(out),
        "sidecar": str(sidecar),
        "video": str(video),
        "duration_s": round(duration, 6),
        "sample_rate": sr,
        "audio_samples": n_total,
        "audio_codec": codec,
        "video_codec": info["codec"],
        "frames": info["frames"],
        "replaced_audio": info["audio"],
        "segments": segments,
        "how": how,
    }
    # The tag holds the essentials (names and times); the sidecar the full record.
    tag = json.dumps({
        "affectkit.av_clip": [[Path(s["file"]).name, s["start_s"], s["end_s"]] for s in segments],
        "video": video.name,
        "sidecar": sidecar.name,
    }, separators=(",", ":"))

    with atomic_path(out) as tmp:
        with av.open(str(video)) as src, av.open(str(tmp), "w", format=fmt) as dst:
            dst.metadata["comment"] = tag
            v_in = src.streams.video[0]
            v_out = dst.add_stream_from_template(v_in)
            a_out = dst.add_stream(codec, rate=sr, layout="mono")
            if codec == "aac":
                a_out.codec_context.bit_rate = bit_rate
            for pkt in src.demux(v_in):
                if pkt.dts is None:  # demuxer's end-of-stream flush packet
                    continue
                pkt.stream = v_out
                dst.mux(pkt)
            frame_size = a_out.codec_context.frame_size or 1024  # PCM encoders report 0
            sample_fmt = _CODECS[codec]
            for start in range(0, n_total, frame_size):
                chunk = wave[start:start + frame_size]
                if sample_fmt == "s16":
                    chunk = (np.clip(chunk, -1.0, 1.0) * 32767).astype(np.int16)
                frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk[None, :]), format=sample_fmt, layout="mono")
                frame.sample_rate = sr
                frame.pts = start
                frame.time_base = Fraction(1, sr)
                dst.mux(a_out.encode(frame))
            dst.mux(a_out.encode(None))
    write_json_atomic(sidecar, record)
    return record
