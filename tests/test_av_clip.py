"""The audio-visual test clip: a shared face video with EmoDB speech muxed over it."""

import json
from pathlib import Path

import numpy as np
import pytest

from affectkit.errors import InputError
from affectkit.testing.av_clip import emodb_emotion, make_av_clip, select_emodb


@pytest.fixture(scope="module")
def emodb(shared) -> Path:
    folder = shared / "data" / "emodb" / "wav"
    if not folder.is_dir():
        pytest.skip(f"EmoDB folder {folder} is absent")
    return folder


@pytest.fixture(scope="module")
def clip(media, emodb, tmp_path_factory):
    out = tmp_path_factory.mktemp("av") / "single_face_anger.mp4"
    record = make_av_clip(media / "single_face.mp4", select_emodb(emodb, "anger"), out)
    return out, record


def _decode(path):
    """Video frame count and the mono float64 audio of a file, with its rate."""
    import av

    with av.open(str(path)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        chunks = [f.to_ndarray() for f in c.decode(s)]
        rate = s.rate
    if chunks[0].dtype == np.int16:  # PCM decodes to integer samples
        chunks = [ch / 32768.0 for ch in chunks]
    wave = np.concatenate([ch.reshape(-1) if ch.shape[0] == 1 else ch.mean(0) for ch in chunks])
    return frames, wave.astype(np.float64), rate


def _expected(record, files=None):
    """The waveform the record says was written (optionally with other files' audio)."""
    import soundfile as sf

    ref = np.zeros(record["audio_samples"])
    for i, seg in enumerate(record["segments"]):
        src = seg["file"] if files is None else files[i]
        x = sf.read(src, dtype="float64")[0]
        ref[seg["start_sample"]:seg["start_sample"] + seg["n_samples"]] = x[: seg["n_samples"]]
    return ref


def test_clip_has_video_and_audio_of_matching_duration(clip, media):
    import av

    out, record = clip
    with av.open(str(out)) as c:
        assert len(c.streams.video) == 1 and len(c.streams.audio) == 1
        v, a = c.streams.video[0], c.streams.audio[0]
        assert a.codec_context.name == "aac" and a.rate == record["sample_rate"] == 22050
        v_dur, a_dur = float(v.duration * v.time_base), float(a.duration * a.time_base)
    with av.open(str(media / "single_face.mp4")) as c:
        src_dur = float(c.streams.video[0].duration * c.streams.video[0].time_base)
    assert v_dur == pytest.approx(src_dur, abs=1e-3) == pytest.approx(record["duration_s"], abs=1e-3)
    assert a_dur == pytest.approx(v_dur, abs=0.05)
    frames, wave, rate = _decode(out)
    src_frames, _, _ = _decode(media / "single_face.mp4")
    assert frames == src_frames == record["frames"]  # video copied, not re-encoded or cut
    assert len(wave) / rate == pytest.approx(v_dur, abs=0.05)  # AAC pads < 1 frame (46 ms)


def test_decoded_audio_is_the_source_speech(clip):
    out, record = clip
    _, wave, _ = _decode(out)
    ref = _expected(record)
    n = min(len(wave), len(ref))
    r = np.corrcoef(wave[:n], ref[:n])[0, 1]
    assert r > 0.95, r  # lossy AAC, but the same samples at the same times
    # control: other EmoDB utterances at the same places do not match
    others = sorted(Path(record["segments"][0]["file"]).parent.glob("*N*.wav"))[: len(record["segments"])]
    wrong = _expected(record, files=others)
    assert abs(np.corrcoef(wave[:n], wrong[:n])[0, 1]) < 0.3


def test_record_names_files_and_times(clip):
    out, record = clip
    sidecar = out.with_name(out.name + ".json")
    assert json.loads(sidecar.read_text()) == json.loads(json.dumps(record))
    segs = record["segments"]
    assert segs[0]["start_s"] == 0 and segs[-1]["end_s"] == pytest.approx(record["duration_s"], abs=1e-4)
    assert all(s["emotion"] == "anger" == emodb_emotion(s["file"]) for s in segs)
    assert all(b["start_s"] == pytest.approx(a["end_s"]) for a, b in zip(segs, segs[1:]))  # gap=0: contiguous
    assert record["replaced_audio"] and record["video_codec"] == "h264"
    import av

    with av.open(str(out)) as c:
        tag = json.loads(c.metadata["comment"])
    assert [t[0] for t in tag["affectkit.av_clip"]] == [Path(s["file"]).name for s in segs]
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name, sidecar.name]  # no temp files left


def test_pcm_in_matroska_with_gaps(media, emodb, tmp_path):
    wavs = select_emodb(emodb, "L")[:2]  # boredom, cycled
    out = tmp_path / "clip.mkv"
    record = make_av_clip(media / "noface_face.mov", wavs, out, codec="pcm_s16le", gap=0.5)
    _, wave, rate = _decode(out)
    assert len(wave) == record["audio_samples"]  # PCM: exact length
    ref = _expected(record)
    assert np.abs(wave - ref).max() < 1e-3  # 16-bit quantisation only
    segs = record["segments"]
    assert [Path(s["file"]).name for s in segs[:3]] == [wavs[0].name, wavs[1].name, wavs[0].name]
    assert segs[1]["start_s"] == pytest.approx(segs[0]["end_s"] + 0.5, abs=1 / rate)


def test_bad_arguments_raise(media, emodb, tmp_path):
    wavs = select_emodb(emodb, "anger")[:1]
    with pytest.raises(ValueError, match="PCM"):
        make_av_clip(media / "single_face.mp4", wavs, tmp_path / "x.mp4", codec="pcm_s16le")
    with pytest.raises(ValueError, match="suffix|end in"):
        make_av_clip(media / "single_face.mp4", wavs, tmp_path / "x.avi")
    with pytest.raises(InputError, match="no such file"):
        make_av_clip(tmp_path / "missing.mp4", wavs, tmp_path / "x.mp4")
    with pytest.raises(InputError, match="no video stream"):
        make_av_clip(wavs[0], wavs, tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="at least one"):
        make_av_clip(media / "single_face.mp4", [], tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="emotion"):
        select_emodb(emodb, "contempt")
    assert not list(tmp_path.iterdir())
