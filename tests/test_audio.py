"""Audio side: input decoding and its errors, librosa functionals, models, transfer,
save/load, and a tiny leave-one-speaker-out run on EmoDB."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from affectkit.audio.io import has_audio, is_silent, load_audio
from affectkit.errors import InputError

SR = 16000


def tone(freq: float, seconds: float, sr: int = SR, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_video(path, with_audio: bool) -> None:
    """A 0.5 s 32x32 MPEG-4 video, optionally with a 440 Hz AAC track."""
    import av

    with av.open(str(path), "w") as c:
        v = c.add_stream("mpeg4", rate=10)
        v.width = v.height = 32
        v.pix_fmt = "yuv420p"
        a = c.add_stream("aac", rate=SR) if with_audio else None
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, np.uint8), format="rgb24")
            for p in v.encode(frame):
                c.mux(p)
        for p in v.encode():
            c.mux(p)
        if a is not None:
            wave = tone(440, 0.5)
            for start in range(0, len(wave), 1024):
                af = av.AudioFrame.from_ndarray(wave[None, start:start + 1024], format="flt", layout="mono")
                af.sample_rate = SR
                for p in a.encode(af):
                    c.mux(p)
            for p in a.encode():
                c.mux(p)


# ------------------------------------------------------------------------------- io


def test_load_wav_resamples_and_mixes_to_mono(tmp_path):
    left = tone(440, 0.5, 22050)
    sf.write(tmp_path / "stereo.wav", np.stack([left, np.zeros_like(left)], 1), 22050)
    wave = load_audio(tmp_path / "stereo.wav", sr=SR)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - SR // 2) <= 1
    assert 0.22 < np.abs(wave).max() < 0.28  # the mean of a 0.5 tone and silence


@pytest.mark.parametrize("ext", ["flac", "ogg", "mp3"])
def test_load_compressed_formats(tmp_path, ext):
    sf.write(tmp_path / f"a.{ext}", tone(440, 0.5), SR)
    wave = load_audio(tmp_path / f"a.{ext}", sr=8000)
    assert abs(len(wave) - 4000) <= 1200  # mp3 adds encoder padding
    assert 0.3 < np.abs(wave).max() < 0.7


def test_load_audio_track_of_real_video(media):
    path = media / "single_face.mp4"
    assert has_audio(path)
    wave = load_audio(path, sr=SR, allow_silent=True)
    assert wave.dtype == np.float32 and abs(len(wave) / SR - 2.42) < 0.1


def test_silent_real_video_raises_unless_allowed(media):
    path = media / "WolfgangLanger_Pexels.mp4"  # its audio track is digital silence
    with pytest.raises(InputError, match="silent"):
        load_audio(path)
    assert is_silent(load_audio(path, allow_silent=True))


def test_synthetic_video_with_and_without_audio_track(tmp_path):
    write_video(tmp_path / "with.mp4", True)
    write_video(tmp_path / "without.mp4", False)
    assert has_audio(tmp_path / "with.mp4")
    wave = load_audio(tmp_path / "with.mp4", sr=SR)
    assert 0.3 < len(wave) / SR < 0.8
    assert not has_audio(tmp_path / "without.mp4")
    with pytest.raises(InputError, match="no audio track"):
        load_audio(tmp_path / "without.mp4")


def test_input_errors_are_clear(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        load_audio(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(InputError, match="empty"):
        load_audio(tmp_path / "empty.wav")
    (tmp_path / "corrupt.wav").write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(InputError, match="corrupt"):
        load_audio(tmp_path / "corrupt.wav")
    with pytest.raises(InputError, match="corrupt"):
        has_audio(tmp_path / "corrupt.wav")
    sf.write(tmp_path / "silent.wav", np.zeros(SR, np.float32), SR)
    with pytest.raises(InputError, match="silent") as err:
        load_audio(tmp_path / "silent.wav")
    assert str(tmp_path / "silent.wav") in str(err.value)
    assert load_audio(tmp_path / "silent.wav", allow_silent=True).shape == (SR,)
    sf.write(tmp_path / "zero_len.wav", np.zeros(0, np.float32), SR)
    with pytest.raises(InputError, match="0 samples"):
        load_audio(tmp_path / "zero_len.wav")
    with pytest.raises(InputError, match="folder"):
        load_audio(tmp_path)


# ------------------------------------------------------------------------- features


def test_functionals_shape_names_and_known_signals():
    from affectkit.audio.features import extract_functionals, feature_names

    names = feature_names()
    assert len(set(names)) == len(names)
    x = dict(zip(names, extract_functionals(tone(220, 1.0))))
    assert len(x) == len(names) and np.isfinite(list(x.values())).all()
    f0 = 27.5 * 2 ** (x["f0_semitone_mean_voiced"] / 12)
    assert abs(f0 - 220) < 5, f0
    assert x["voiced_fraction"] > 0.9
    quiet = dict(zip(names, extract_functionals(tone(220, 1.0, amp=0.05))))
    assert abs(x["rms_db_mean"] - quiet["rms_db_mean"] - 20) < 1  # 10x amplitude = +20 dB
    noise = np.random.default_rng(0).normal(0, 0.1, SR).astype(np.float32)
    n = dict(zip(names, extract_functionals(noise)))
    assert n["flatness_mean"] > 10 * x["flatness_mean"]
    assert n["voiced_fraction"] < 0.2


def test_window_features_cover_the_track():
    from affectkit.audio.features import extract_functionals, feature_names, window_features

    wave = np.concatenate([tone(150, 2.5), tone(300, 2.5)])
    times, feats = window_features(wave, SR, win_s=2.0, hop_s=0.5, chunk_s=2.5)
    assert feats.shape == (7, len(feature_names())) and feats.dtype == np.float32
    np.testing.assert_allclose(times, 1.0 + 0.5 * np.arange(7))
    f0 = feats[:, feature_names().index("f0_semitone_p50_voiced")]
    assert f0[0] < f0[-1] - 11  # one octave up = 12 semitones
    one = extract_functionals(wave[: 2 * SR])
    k = feature_names().index("mfcc1_mean")
    assert abs(one[k] - feats[0, k]) < 0.05 * abs(one[k]) + 1


def test_extract_features_caches(tmp_path):
    from affectkit.audio.features import extract_features, feature_names

    for i, f in enumerate((200, 300)):
        sf.write(tmp_path / f"{i}.wav", tone(f, 0.5), SR)
    files = [str(tmp_path / "0.wav"), str(tmp_path / "1.wav")]
    x = extract_features(files, cache=tmp_path / "cache")
    assert x.shape == (2, len(feature_names())) and x.dtype == np.float32
    cached = list((tmp_path / "cache").glob("librosa-*.npy"))
    assert len(cached) == 1
    np.save(cached[0], x + 1)  # a second call must read the cache, not recompute
    np.testing.assert_array_equal(extract_features(files, cache=tmp_path / "cache"), x + 1)
    with pytest.raises(ValueError, match="feature kind"):
        extract_features(files, "mel", cache=False)


def test_opensmile_missing_gives_install_hint(monkeypatch):
    import sys

    from affectkit.audio import features

    features._smile.cache_clear()
    monkeypatch.setitem(sys.modules, "opensmile", None)
    with pytest.raises(ImportError, match=r"pip install .*commercial"):
        features.feature_names("egemaps")
    features._smile.cache_clear()


# --------------------------------------------------------------------------- models


def blobs(n=240, d=20, c=3, seed=0):
    """Gaussian classes around fixed centres; ``seed`` draws the samples."""
    y = np.arange(n) % c
    centres = np.random.default_rng(1234).normal(0, 1.5, (c, d))
    x = centres[y] + np.random.default_rng(seed).normal(0, 1, (n, d)) + 5  # offset: models must standardise
    return x.astype(np.float32), y.astype(np.int64)


@pytest.mark.parametrize("kind", ["mlp", "rf", "svm"])
def test_models_learn_separable_problem_not_shuffled_labels(kind):
    from affectkit.audio.models import make_audio_model

    params = {"epochs": 15} if kind == "mlp" else {}
    x, y = blobs(n=150)
    x_test, y_test = blobs(n=120, seed=1)  # new samples of the same classes
    rng = np.random.default_rng(1)
    model = make_audio_model(kind, seed=0, **params).fit(x, y)
    proba = model.predict_proba(x_test)
    assert proba.shape == (120, 3) and np.allclose(proba.sum(1), 1)
    assert (model.classes_[proba.argmax(1)] == y_test).mean() > 0.9
    shuffled = make_audio_model(kind, seed=0, **params).fit(x, rng.permutation(y))
    assert (shuffled.predict(x_test) == y_test).mean() < 0.6


def test_mlp_architecture_and_seed():
    from torch import nn

    from affectkit.audio.models import MLPClassifier, VielzeufMLP

    net = VielzeufMLP(10, 4)
    kinds = [type(m) for m in net.trunk] + [type(net.head)]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.ReLU, nn.Dropout, nn.Linear]
    assert net.trunk[0].out_features == 64
    x, y = blobs()
    a = MLPClassifier(epochs=5, seed=3).fit(x, y).predict_proba(x)
    b = MLPClassifier(epochs=5, seed=3).fit(x, y).predict_proba(x)
    c = MLPClassifier(epochs=5, seed=4).fit(x, y).predict_proba(x)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_save_load_round_trip(tmp_path):
    from affectkit.audio.models import MLPClassifier, load_audio_model, save_audio_model
    from affectkit.errors import WeightsError

    x, y = blobs()
    model = MLPClassifier(epochs=10).fit(x, y + 1)  # class ids 1..3 of a 4-class corpus
    names = [f"f{i}" for i in range(x.shape[1])]
    path = save_audio_model(model, tmp_path / "voice.safetensors", feature_kind="librosa", feature_names=names,
                            class_names=["anger", "happiness", "sadness", "neutral"], window_s=2.0)
    loaded, card = load_audio_model(path)
    np.testing.assert_array_equal(loaded.predict_proba(x), model.predict_proba(x))
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    assert card["features"]["names"] == names and card["features"]["sample_rate"] == 16000
    assert card["class_names"][loaded.classes_[0]] == "happiness"
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind
    with pytest.raises(TypeError):
        save_audio_model(object(), tmp_path / "x.safetensors", feature_kind="librosa", feature_names=names,
                         class_names=["a"])
    (tmp_path / "voice.json").unlink()
    with pytest.raises(WeightsError, match="card"):
        load_audio_model(path)


def test_transfer_pretrain_changes_trunk_and_finetunes_to_emotions():
    import torch

    from affectkit.audio.models import MLPClassifier, VielzeufMLP

    x, y = blobs(c=4)
    gender = np.where(x[:, 0] > np.median(x[:, 0]), "m", "f")
    model = MLPClassifier(epochs=20, seed=0).pretrain(x, gender)
    torch.manual_seed(0 + 7919)
    fresh = VielzeufMLP(x.shape[1], 2).trunk.state_dict()
    moved = model.trunk_state_["0.weight"] - fresh["0.weight"]
    assert moved.abs().max() > 1e-3
    assert list(model.source_classes_) == ["f", "m"]
    model.fit(x, y)
    assert list(model.classes_) == [0, 1, 2, 3]
    assert model.predict_proba(x).shape == (len(x), 4)
    assert (model.predict(x) == y).mean() > 0.8
    scratch = MLPClassifier(epochs=20, seed=0).fit(x, y)
    assert not torch.equal(scratch.net_.trunk[0].weight, model.net_.trunk[0].weight)


def test_speaker_normalize():
    from affectkit.audio.experiment import speaker_normalize

    x = np.array([[1.0, 5], [3, 5], [10, 0], [30, 2]])
    z = speaker_normalize(x, ["a", "a", "b", "b"])
    np.testing.assert_allclose(z, [[-1, 0], [1, 0], [-1, -1], [1, 1]])


# ------------------------------------------------------------------------- EmoDB


@pytest.fixture(scope="module")
def emodb(shared):
    root = shared / "data" / "emodb"
    if not root.is_dir():
        pytest.skip(f"{root} is absent")
    from affectkit.audio.corpora import load_emodb

    return load_emodb(root)


def test_emodb_loader_counts(emodb):
    assert len(emodb) == 535
    assert len(set(emodb.subjects)) == 10
    assert emodb.class_names == ("anger", "boredom", "disgust", "fear", "happiness", "sadness", "neutral")
    assert emodb.class_counts() == {"anger": 127, "boredom": 81, "disgust": 46, "fear": 69, "happiness": 71,
                                    "sadness": 62, "neutral": 79}
    by_speaker = dict(zip(emodb.subjects, emodb.genders))
    assert by_speaker["03"] == "m" and by_speaker["08"] == "f"


@pytest.mark.slow
def test_tiny_emodb_loso_beats_chance(emodb, tmp_path, cache):
    from affectkit.audio.experiment import run_audio_experiment

    # 3 speakers, at most 2 recordings per class each: 42 files, some seconds of pyin
    rows, seen = [], {}
    for i, (spk, lab) in enumerate(zip(emodb.subjects, emodb.labels)):
        if spk in ("03", "08", "13") and seen.get((spk, lab), 0) < 2:
            seen[(spk, lab)] = seen.get((spk, lab), 0) + 1
            rows.append(i)
    small = emodb.subset(np.array(rows))
    report = run_audio_experiment(small, "librosa", "rf", "loso", seeds=(0,), speaker_norm=True,
                                  out_dir=tmp_path)
    assert report["config"]["speakers"] == 3 and len(report["seeds"]) == 1
    assert report["pooled"]["uar"] > 0.3  # chance is 1/7
    assert (tmp_path / "report.json").is_file() and (tmp_path / "report.md").is_file()
