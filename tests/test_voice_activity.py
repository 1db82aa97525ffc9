"""Voice activity detection (Silero VAD) and temperature scaling of the voice model.

Generated signals are used wherever they can decide the question, so most tests run
without the shared data; those that need real speech (EmoDB) or the shared clips skip
with a reason when ``../shared`` is absent.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from affectkit.audio.calibration import (calibration_bins, calibration_record, expected_calibration_error,
                                         fit_temperature, nll, softmax)
from affectkit.audio.vad import (CHUNK, CHUNK_S, MIN_SPEECH_S, SPEECH_THRESHOLD, VAD_RATE, load_vad,
                                 speech_probability, window_speech)
from affectkit.expressions import EXPRESSIONS

SR = VAD_RATE


def _signals(seconds: float = 6.0) -> dict[str, np.ndarray]:
    t = np.arange(int(seconds * SR)) / SR
    rng = np.random.default_rng(1)
    return {
        "silence": np.zeros(len(t), np.float32),
        "white noise": rng.normal(0, 0.1, len(t)).astype(np.float32),
        "loud white noise": np.clip(rng.normal(0, 0.3, len(t)), -1, 1).astype(np.float32),
        "440 Hz tone": (0.25 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "chirp 200-2000 Hz": (0.2 * np.sin(2 * np.pi * (200 + 150 * t) * t)).astype(np.float32),
    }


def _emodb(shared, n_per_emotion: int = 1) -> list:
    from affectkit.testing.av_clip import EMODB_EMOTIONS, select_emodb

    folder = shared / "data" / "emodb" / "wav"
    if not folder.is_dir():
        pytest.skip(f"EmoDB is not in the shared folder ({folder})")
    return [f for e in EMODB_EMOTIONS.values() for f in select_emodb(folder, emotion=e)[:n_per_emotion]]


# ------------------------------------------------------------------------------ VAD


@pytest.mark.parametrize("name", list(_signals()))
def test_no_speech_in_generated_non_speech(name):
    wave = _signals()[name]
    prob = speech_probability(wave)
    assert prob.shape == (-(-len(wave) // CHUNK),) and prob.dtype == np.float32
    assert ((prob >= 0) & (prob <= 1)).all()
    assert prob.max() < SPEECH_THRESHOLD, f"{name}: chunk probability {prob.max():.2f}"
    centres = np.arange(1.0, 5.01, 0.5)
    assert (window_speech(prob, centres, 2.0) < MIN_SPEECH_S).all()


def test_speech_in_every_emodb_utterance_and_not_in_the_noise_around_it(shared):
    from affectkit.audio.io import load_audio

    rng = np.random.default_rng(0)
    for path in _emodb(shared):
        utt = load_audio(path, SR)
        prob = speech_probability(utt)
        assert window_speech(prob, [len(utt) / SR / 2], 2.0)[0] >= MIN_SPEECH_S, path.name
        # the same utterance between 3 s of quiet noise: speech only where the utterance is
        noise = rng.normal(0, 0.003, 3 * SR).astype(np.float32)
        track = np.concatenate([noise, utt + noise[: len(utt)], noise])
        sw = window_speech(speech_probability(track), [1.0, 4.0, 7.0], 2.0)
        assert sw[0] == 0 and sw[2] == 0 and sw[1] >= MIN_SPEECH_S, (path.name, sw)


def test_window_speech_counts_chunks_inside_each_window():
    prob = np.zeros(100)  # 3.2 s of 32 ms chunks
    prob[10:30] = 0.9  # 0.32-0.96 s
    prob[50] = 0.5  # at the threshold: speech
    prob[60] = 0.49
    sw = window_speech(prob, [0.64, 1.63, 3.0], 0.64)
    # chunk centres within [c - 0.32, c + 0.32]: 10..29 -> 20 chunks; chunk 50 (1.616 s) -> 1; none
    assert np.allclose(sw, [20 * CHUNK_S, 1 * CHUNK_S, 0.0])
    assert window_speech(np.zeros(0), [1.0], 2.0).tolist() == [0.0]


def test_speech_probability_inputs():
    assert speech_probability(np.zeros(0, np.float32)).shape == (0,)
    # 8 kHz input is resampled: one decision per 32 ms either way
    assert speech_probability(np.zeros(8000, np.float32), sr=8000).shape == (VAD_RATE // CHUNK + 1,)
    with pytest.raises(ValueError):
        speech_probability(np.zeros((2, 100), np.float32))
    with pytest.raises(ValueError):
        speech_probability(np.array([0.0, np.nan], np.float32))


def _jit_reference():
    import warnings

    import torch

    from affectkit.audio.vad import silero_package_file

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.jit.load(str(silero_package_file("silero_vad.jit")), map_location="cpu").eval()
    except Exception as exc:  # TorchScript is deprecated in torch: the reference may be gone
        pytest.skip(f"silero-vad's TorchScript reference cannot be loaded here ({exc})")


def _reference_probs(jit, wave: np.ndarray) -> np.ndarray:
    import torch

    jit.reset_states()
    x = torch.from_numpy(np.pad(wave, (0, (-len(wave)) % CHUNK)))
    with torch.no_grad():
        return np.array([float(jit(x[i: i + CHUNK], SR)) for i in range(0, len(x), CHUNK)])


def test_network_reproduces_silero_torchscript_model(shared, monkeypatch):
    """affectkit's SileroVADNet with the TorchScript model's weights gives its outputs, and the
    packaged safetensors weights affectkit uses make the same decisions on speech."""
    import affectkit.audio.vad as vad
    from affectkit.audio.io import load_audio

    jit = _jit_reference()
    names = {"stft.forward_basis_buffer": "stft_conv.weight", "decoder.decoder.2.weight": "final_conv.weight",
             "decoder.decoder.2.bias": "final_conv.bias"}
    for i in range(4):
        for p in ("weight", "bias"):
            names[f"encoder.{i}.reparam_conv.{p}"] = f"conv{i + 1}.{p}"
    for p in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        names[f"decoder.rnn.{p}"] = f"lstm.{p}_l0"
    net = vad.SileroVADNet()
    net.load_state_dict({names[k]: v for k, v in jit._model.state_dict().items()})
    ours = vad.load_vad()
    utt = load_audio(_emodb(shared)[0], SR)
    # 700 ms of a quiet tone first, so the utterance does not start on a chunk boundary
    wave = np.concatenate([_signals(0.7)["440 Hz tone"] * 0.1, utt]).astype(np.float32)
    ref = _reference_probs(jit, wave)
    monkeypatch.setattr(vad, "load_vad", lambda: net.eval())
    assert np.abs(vad.speech_probability(wave) - ref).max() < 1e-4
    monkeypatch.setattr(vad, "load_vad", lambda: ours)
    agree = (vad.speech_probability(wave) >= SPEECH_THRESHOLD) == (ref >= SPEECH_THRESHOLD)
    assert agree.mean() >= 0.9 and (ref >= SPEECH_THRESHOLD).any()


def test_vad_is_loaded_once_and_leaves_torch_threads_alone():
    import torch

    n = torch.get_num_threads()
    assert load_vad() is load_vad()
    speech_probability(np.zeros(SR, np.float32))
    assert torch.get_num_threads() == n


# ---------------------------------------------------------------------- calibration


def _synthetic(n: int, temperature: float, seed: int = 0):
    """Labels drawn from softmax(z); the model reports z * temperature (so T recovers it)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, 5))
    p = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(1)
    return z * temperature, y


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_temperature_recovers_a_known_temperature(true_t):
    logits, y = _synthetic(20000, true_t)
    t = fit_temperature(logits, y)
    assert t == pytest.approx(true_t, rel=0.05)
    assert nll(logits, y, t) <= nll(logits, y) + 1e-9
    if true_t != 1.0:
        p0, p1 = softmax(logits), softmax(logits, t)
        assert expected_calibration_error(p1, y) < expected_calibration_error(p0, y) / 2
        assert (p0.argmax(1) == p1.argmax(1)).all()  # scaling changes no prediction


def test_softmax_of_log_probabilities_is_the_scaled_softmax():
    logits, _ = _synthetic(50, 1.0)
    assert np.allclose(softmax(np.log(softmax(logits)), 2.0), softmax(logits / 2.0))
    with pytest.raises(ValueError):
        softmax(logits, 0.0)


def test_ece_by_hand():
    # four predictions at 0.9 confidence, three right: |0.75 - 0.9| = 0.15
    p = np.array([[0.9, 0.1]] * 4)
    y = np.array([0, 0, 0, 1])
    assert expected_calibration_error(p, y) == pytest.approx(0.15)
    # two bins: confidence 0.6 all right (gap 0.4), confidence 1.0 all right (gap 0)
    p = np.array([[0.6, 0.4], [0.6, 0.4], [1.0, 0.0], [0.0, 1.0]])
    y = np.array([0, 0, 0, 1])
    assert expected_calibration_error(p, y) == pytest.approx(0.5 * 0.4)
    b = calibration_bins(p, y)
    assert len(b["count"]) == 15 and sum(b["count"]) == 4 and b["count"][-1] == 2
    # right-closed bins: exactly 8/15 belongs to (7/15, 8/15]
    assert calibration_bins(np.array([[8 / 15, 7 / 15]]), [0])["count"][7] == 1
    with pytest.raises(ValueError):
        expected_calibration_error(p, [0, 1, 2, 0])


def test_calibration_record_with_held_out_groups():
    logits, y = _synthetic(3000, 3.0, seed=2)
    groups = np.repeat(np.arange(6), 500)
    rec = calibration_record(logits, y, groups, fitted_on="synthetic")
    assert rec["method"] == "temperature" and rec["temperature"] == pytest.approx(3.0, rel=0.1)
    assert rec["ece_after"] < rec["ece_before"] and rec["ece_after_held_out"] < rec["ece_before"]
    lo, hi = rec["temperature_per_group"]
    assert lo <= rec["temperature"] <= hi or hi - lo < 0.5
    json.dumps(rec)  # goes into a JSON card as it is


def test_card_carries_the_temperature_and_bad_ones_are_refused(tmp_path):
    from affectkit.audio.models import load_audio_model, make_audio_model, save_audio_model
    from affectkit.audio.voice import card_temperature
    from affectkit.errors import WeightsError

    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 4))
    y = np.repeat(np.arange(3), 20)
    model = make_audio_model("mlp", epochs=2).fit(x, y)
    cal = {"method": "temperature", "temperature": 1.7, "fitted_on": "test"}
    path = save_audio_model(model, tmp_path / "m.safetensors", feature_kind="librosa", feature_names=list("abcd"),
                            class_names=["a", "b", "c"], calibration=cal)
    net, card = load_audio_model(path)
    assert card["calibration"] == cal and card_temperature(card) == 1.7
    assert np.allclose(softmax(net.predict_logits(x)), net.predict_proba(x), atol=1e-6)
    assert card_temperature({}) == 1.0
    for bad in (0.0, -1.0, float("nan"), "2", True):
        with pytest.raises(WeightsError):
            card_temperature({"calibration": {"method": "temperature", "temperature": bad}})
    with pytest.raises(WeightsError):
        card_temperature({"calibration": {"method": "isotonic"}})
    with pytest.raises(ValueError):
        save_audio_model(model, tmp_path / "n.safetensors", feature_kind="librosa", feature_names=list("abcd"),
                         class_names=["a", "b", "c"], calibration={"method": "temperature", "temperature": -2})


def test_bundled_voice_model_is_calibrated():
    from affectkit.audio.voice import bundled_voice_model

    card = json.loads(bundled_voice_model().with_suffix(".json").read_text())
    cal = card["calibration"]
    assert cal["method"] == "temperature" and 1.0 < cal["temperature"] < 5.0
    assert cal["ece_after"] < cal["ece_before"] and cal["ece_after_held_out"] < cal["ece_before"]
    assert "leave-one-speaker-out" in cal["fitted_on"]


# ---------------------------------------------------------------------- VoiceTrack


def test_voicetrack_on_a_clip_without_speech_gives_empty_voice_columns(media):
    from affectkit.audio.voice import VoiceTrack, add_voice_columns

    track = VoiceTrack(media / "single_face.mp4")
    assert track.status == "no speech" and track.speech_fraction == 0.0
    assert len(track.times) >= 1 and not track.speech.any()
    assert track.note.startswith(f"no speech (speech in 0 of {len(track.times)} voice windows")
    assert np.isnan(track.at(np.array([0.0, 1.0, 2.0]))).all()
    face = {e: 1 / 7 for e in EXPRESSIONS}
    rows = add_voice_columns([{"time_s": 1.0, **face}], track)
    assert all(np.isnan(rows[0][f"voice_{e}"]) for e in EXPRESSIONS) and rows[0]["voice_expression"] is None
    assert all(rows[0][f"fused_{e}"] == pytest.approx(1 / 7) for e in EXPRESSIONS)


def test_voicetrack_empties_non_speech_windows_and_applies_the_temperature(shared, tmp_path):
    import soundfile as sf

    from affectkit.audio.calibration import softmax as sm
    from affectkit.audio.features import window_features
    from affectkit.audio.io import load_audio
    from affectkit.audio.models import load_audio_model
    from affectkit.audio.voice import VoiceTrack, bundled_voice_model

    utts = [load_audio(p, SR) for p in _emodb(shared)[:2]]
    noise = np.random.default_rng(0).normal(0, 0.003, 4 * SR).astype(np.float32)
    wav = tmp_path / "speech_noise_speech.wav"
    sf.write(wav, np.concatenate([utts[0], noise, utts[1]]), SR)
    track = VoiceTrack(wav)
    assert track.status == "ok" and 0 < track.speech.sum() < len(track.speech)
    k, w = int(track.speech.sum()), len(track.speech)
    assert track.note.startswith(f"speech in {k} of {w} voice windows ({100 * k / w:.0f} %)")
    assert track.speech_fraction == pytest.approx(k / w)
    # windows wholly inside the noise are empty; the first and last (on the speech) are not
    inside_noise = (track.times - 1.0 >= 2.0) & (track.times + 1.0 <= 6.0)
    assert inside_noise.any() and np.isnan(track.proba[inside_noise]).all()
    assert np.isfinite(track.proba[[0, -1]][:, track.class_map.coverage]).all()
    # the probabilities are softmax(logits / T) of the model, mapped onto the face classes
    net, card = load_audio_model(bundled_voice_model())
    assert track.temperature == card["calibration"]["temperature"] != 1.0
    times, feats = window_features(load_audio(wav, SR), SR, win_s=2.0, hop_s=0.5)
    assert np.allclose(times, track.times)
    want = track.class_map.apply(sm(net.predict_logits(feats[track.speech]), track.temperature))
    got = track.proba[track.speech]
    cov = track.class_map.coverage
    assert np.allclose(got[:, cov], want[:, cov])
    # the same model without its calibration entry is more confident
    shutil.copy(bundled_voice_model(), tmp_path / "raw.safetensors")
    card.pop("calibration")
    (tmp_path / "raw.json").write_text(json.dumps(card))
    raw = VoiceTrack(wav, model=tmp_path / "raw.safetensors")
    assert raw.temperature == 1.0
    assert np.nanmax(raw.proba[raw.speech], axis=1).mean() > np.nanmax(got, axis=1).mean()
