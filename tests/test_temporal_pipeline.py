"""Temporal models end to end: sequence data, training and evaluation from the CLI,
and running a trained model on a real video.

The synthetic sets carry rules that per-frame pooling cannot learn (which of two
events comes first; a rating that accumulates over time), so the assertions fail if
the temporal models do not use order.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.errors import DataError
from affectkit.data.registry import load_dataset
from affectkit.temporal.sequences import SequenceSet, fill_missing, nearest_indices, pad_batch, sample_times

runner = CliRunner()
FAST = ["--epochs", "20", "--hidden", "16", "--batch-size", "16", "--lr", "0.005", "-q"]


def _sequences(spec, split="all", **sampling):
    return load_dataset(spec, split, modality="sequence", **sampling)


def _order_csv(folder, n=144, n_test=48, seed=0):
    """Sequences of noise with one 'A' frame and one 'B' frame; label: which comes first."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        t = int(rng.integers(8, 14))
        x = rng.normal(0, 0.3, (t, 6)).astype(np.float32)
        a, b = rng.choice(t, 2, replace=False)
        x[a, 0] += 2
        x[b, 1] += 2
        np.save(folder / f"s{i}.npy", x)
        rows.append({"path": f"s{i}.npy", "label": "a_first" if a < b else "b_first", "subject": f"p{i % 6}",
                     "split": "test" if i >= n - n_test else "train"})
    pd.DataFrame(rows).to_csv(folder / "seqs.csv", index=False)
    return folder / "seqs.csv"


def _accumulate_csv(folder, n=120, n_test=40, seed=0):
    """Valence is the running sum of feature 0 (needs memory); arousal follows feature 1 frame by frame."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        t = int(rng.integers(10, 18))
        x = rng.normal(0, 1, (t, 4)).astype(np.float32)
        np.save(folder / f"s{i}.npy", x)
        pd.DataFrame({"time": np.arange(t) * 0.5, "valence": np.tanh(np.cumsum(x[:, 0]) / 3),
                      "arousal": np.tanh(x[:, 1])}).to_csv(folder / f"r{i}.csv", index=False)
        rows.append({"path": f"s{i}.npy", "ratings": f"r{i}.csv", "split": "test" if i >= n - n_test else "train"})
    pd.DataFrame(rows).to_csv(folder / "seqs.csv", index=False)
    return folder / "seqs.csv"


def _motion_csv(folder, n=96, n_test=32, seed=0):
    """16-frame 16x16 crops of a bright bar moving left-to-right (class 'right') or back."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        right = bool(rng.integers(2))
        clip = rng.integers(0, 40, (16, 16, 16)).astype(np.uint8)
        for t in range(16):
            col = t if right else 15 - t
            clip[t, :, col] = 255
        np.save(folder / f"c{i}.npy", clip)
        rows.append({"path": f"c{i}.npy", "label": "right" if right else "left",
                     "split": "test" if i >= n - n_test else "train"})
    pd.DataFrame(rows).to_csv(folder / "seqs.csv", index=False)
    return folder / "seqs.csv"


def _report(path):
    return json.loads((path / "report.json").read_text())


# ----------------------------------------------------------------------------- sampling and batching


def test_sample_times_rate_and_count():
    assert np.allclose(sample_times(2.4, rate=2.0), [0, 0.5, 1.0, 1.5, 2.0])
    assert np.allclose(sample_times(1.6, count=4), [0.2, 0.6, 1.0, 1.4])
    with pytest.raises(ValueError):
        sample_times(2.0, rate=2.0, count=4)
    with pytest.raises(ValueError):
        sample_times(0.0, rate=2.0)


def test_nearest_indices_and_fill_missing():
    assert nearest_indices(np.array([0.0, 0.04, 0.08, 0.12]), np.array([0.0, 0.05, 0.11, 1.0])).tolist() == [0, 1, 3, 3]
    x = np.arange(5)[:, None].astype(float)
    filled = fill_missing(x, np.array([False, True, False, False, True]))
    assert filled[:, 0].tolist() == [1, 1, 1, 4, 4]
    with pytest.raises(ValueError):
        fill_missing(x, np.zeros(5, bool))


def test_pad_batch_right_pads_with_mask():
    b = pad_batch([np.ones((3, 2), np.float32), np.ones((1, 2), np.float32)],
                  va=[np.zeros((3, 2), np.float32), np.zeros((1, 2), np.float32)])
    assert b["x"].shape == (2, 3, 2) and b["mask"].tolist() == [[True] * 3, [True, False, False]]
    assert np.isnan(b["va"][1, 1:].numpy()).all() and float(b["x"][1, 1:].abs().sum()) == 0


def test_sequence_set_rejects_inconsistent_lengths():
    with pytest.raises(ValueError, match="different lengths"):
        SequenceSet([np.zeros((3, 2))], [np.zeros(2)], np.array([0]), [np.zeros((3, 2))], [np.ones(3, bool)],
                    [""], ["a"], ("x",))


# ----------------------------------------------------------------------------- loaders


def test_sequence_csv_loads_embeddings_labels_and_splits(tmp_path):
    csv = _order_csv(tmp_path / "d")
    train, test = _sequences(f"seqcsv:{csv}", "train"), _sequences(f"seqcsv:{csv}", "test")
    assert (len(train), len(test)) == (96, 48)
    assert train.class_names == ("a_first", "b_first") and train.content == "precomputed"
    assert set(train.labels.tolist()) == {0, 1} and train.x[0].shape[1] == 6


def test_sequence_csv_errors_name_the_file(tmp_path):
    (tmp_path / "bad.csv").write_text("video\nx.mp4\n")
    with pytest.raises(DataError, match="bad.csv: sequence CSV needs a 'path' column"):
        _sequences(f"seqcsv:{tmp_path / 'bad.csv'}")
    np.save(tmp_path / "a.npy", np.zeros((4, 3), np.float32))
    pd.DataFrame({"time": [0, 0.5], "valence": [0.1, 0.2]}).to_csv(tmp_path / "r.csv", index=False)
    (tmp_path / "m.csv").write_text("path,ratings\na.npy,r.csv\n")
    with pytest.raises(DataError, match="2 ratings for 4 steps"):
        _sequences(f"seqcsv:{tmp_path / 'm.csv'}")
    with pytest.raises(DataError, match="kind one of"):
        _sequences(f"nope:{tmp_path}")
    with pytest.raises(DataError, match="emodb is voice data; sequence data are one of"):
        _sequences(f"emodb:{tmp_path}")


def test_afew_va_sequences_have_per_frame_labels_and_landmarks(shared):
    seqs = _sequences(f"afew_va_clips:{shared / 'data' / 'afew-va'}", "all", size=32)
    assert len(seqs) == 1 and seqs.x[0].shape == (42, 32, 32) and seqs.landmarks[0].shape == (42, 68, 2)
    assert np.allclose(seqs.va[0], [0.0, 0.5])  # the clip's constant rating (V = 0, A = 5 of 10)
    assert np.allclose(np.diff(seqs.times[0]), 1 / 25)
    sub = _sequences(f"afew_va_clips:{shared / 'data' / 'afew-va'}", "all", size=32, count=8)
    assert sub.x[0].shape == (8, 32, 32)


def test_afew_and_send_layouts_on_real_video(media, tmp_path, cache):
    import shutil

    afew = tmp_path / "afew"
    for split, cls in (("Train_AFEW", "Happy"), ("Train_AFEW", "Sad"), ("Val_AFEW", "Angry")):
        (afew / split / cls).mkdir(parents=True)
        shutil.copy(media / "single_face.mp4", afew / split / cls / f"{cls}1.mp4")
    (afew / "Train_AFEW" / "AlignedFaces").mkdir()  # non-class folders of the release are ignored
    train = _sequences(f"afew:{afew}", "train", rate=2.0, size=32)
    assert sorted(train.class_names[i] for i in train.labels) == ["happiness", "sadness"]
    assert all(x.shape == (5, 32, 32) and p.all() for x, p in zip(train.x, train.present))
    assert _sequences(f"afew:{afew}", "validation", count=4, size=32).x[0].shape == (4, 32, 32)

    send = tmp_path / "send"
    (send / "ratings" / "Train" / "observer_EWE").mkdir(parents=True)
    (send / "videos").mkdir()
    shutil.copy(media / "single_face.mp4", send / "videos" / "ID1_vid1.mp4")
    pd.DataFrame({"time": [0.0, 0.5, 1.0, 1.5, 2.0], "evaluatorWeightedEstimate": [0.1, 0.2, 0.3, 0.2, -0.1]}).to_csv(
        send / "ratings" / "Train" / "observer_EWE" / "ID1_vid1_normalized.csv", index=False)
    seqs = _sequences(f"send:{send}", "train", size=32)
    assert seqs.subjects == ["ID1"] and np.allclose(seqs.va[0][:, 0], [0.1, 0.2, 0.3, 0.2, -0.1])
    assert np.isnan(seqs.va[0][:, 1]).all() and np.allclose(seqs.times[0], [0, 0.5, 1, 1.5, 2])
    with pytest.raises(DataError, match="no test folder"):
        _sequences(f"send:{send}", "test")


# ----------------------------------------------------------------------------- CLI training and evaluation


@pytest.mark.slow
@pytest.mark.parametrize("model,low,high", [("mean", 0.0, 0.68), ("selection", 0.0, 0.68), ("lstm", 0.85, 1.0),
                                            ("gru", 0.85, 1.0), ("transformer_lstm", 0.8, 1.0)])
def test_cli_trains_and_evaluates_order_rule(tmp_path, model, low, high):
    csv = _order_csv(tmp_path / "d")
    r = runner.invoke(app, ["train", "temporal", "--model", model, "--data", f"seqcsv:{csv}", "--embedding", "precomputed",
                            "--out", str(tmp_path / "run"), *FAST])
    assert r.exit_code == 0, r.output
    trained = _report(tmp_path / "run")["pooled"]["accuracy"]
    assert low <= trained <= high, trained
    model_file = tmp_path / "run" / "seed_0" / "model.safetensors"
    r = runner.invoke(app, ["evaluate", "--model", str(model_file), "--data", f"seqcsv:{csv}", "--split", "test",
                            "-o", str(tmp_path / "eval"), "-q"])
    assert r.exit_code == 0, r.output
    assert _report(tmp_path / "eval")["pooled"]["accuracy"] == pytest.approx(trained)


@pytest.mark.slow
def test_cli_per_step_valence_needs_memory(tmp_path):
    csv = _accumulate_csv(tmp_path / "d")
    scores = {}
    for model in ("mean", "lstm"):
        r = runner.invoke(app, ["train", "temporal", "--model", model, "--task", "va", "--data", f"seqcsv:{csv}",
                                "--embedding", "precomputed", "--out", str(tmp_path / model), *FAST])
        assert r.exit_code == 0, r.output
        scores[model] = _report(tmp_path / model)["pooled"]
    # Arousal is a per-frame function: both learn it. Valence accumulates: only the LSTM can.
    assert scores["mean"]["arousal"]["sequence_ccc"] > 0.6 and scores["lstm"]["arousal"]["sequence_ccc"] > 0.6
    assert scores["lstm"]["valence"]["sequence_ccc"] > 0.7
    assert scores["mean"]["valence"]["sequence_ccc"] < 0.5


@pytest.mark.slow
def test_cli_c3d_learns_motion_direction(tmp_path):
    csv = _motion_csv(tmp_path / "d")
    r = runner.invoke(app, ["train", "temporal", "--model", "c3d", "--data", f"seqcsv:{csv}", "--embedding", "crops",
                            "--out", str(tmp_path / "run"), "--epochs", "8", "--hidden", "64", "--batch-size", "16",
                            "--lr", "0.003", "-q", "--seeds", "0,1"])
    assert r.exit_code == 0, r.output
    rep = _report(tmp_path / "run")
    assert rep["summary"]["accuracy"]["n"] == 2 and "ensemble" in rep
    assert rep["pooled"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_cli_kfold_by_subject(tmp_path):
    csv = _order_csv(tmp_path / "d", n=72, n_test=0)
    r = runner.invoke(app, ["train", "temporal", "--model", "gru", "--data", f"seqcsv:{csv}", "--embedding", "precomputed",
                            "--protocol", "kfold:3", "--train-split", "all", "--out", str(tmp_path / "run"), *FAST])
    assert r.exit_code == 0, r.output
    rep = _report(tmp_path / "run")
    assert rep["pooled"]["n"] == 72 and len(list((tmp_path / "run" / "seed_0").glob("fold_*/model.safetensors"))) == 3


@pytest.mark.slow
def test_cli_temporal_errors_are_one_line(tmp_path):
    csv = _order_csv(tmp_path / "d", n=12, n_test=4)
    r = runner.invoke(app, ["train", "temporal", "--model", "c3d", "--data", f"seqcsv:{csv}", "--embedding", "emotion",
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "c3d runs on the face crops" in r.output
    r = runner.invoke(app, ["train", "temporal", "--model", "lstm", "--data", f"seqcsv:{csv}", "--embedding", "emotion",
                            "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "holds precomputed embeddings" in r.output
    r = runner.invoke(app, ["train", "temporal", "--model", "lstm", "--task", "va", "--data", f"seqcsv:{csv}",
                            "--embedding", "precomputed", "--out", str(tmp_path / "run")])
    assert r.exit_code == 2 and "needs valence/arousal ratings" in r.output


# ----------------------------------------------------------------------------- a real clip and a real video


@pytest.mark.slow
def test_afew_va_clip_to_video_clip_command(shared, media, tmp_path, cache):
    """Train per-step valence/arousal on the real AFEW-VA clip (emotion-model embeddings),
    then run the model on a real video. The clip's ratings are constant, so this checks
    the plumbing and the outputs' form, not accuracy."""
    afew_va = f"afew_va_clips:{shared / 'data' / 'afew-va'}"
    r = runner.invoke(app, ["train", "temporal", "--model", "lstm", "--task", "va", "--data", afew_va, "--train-split", "all",
                            "--test-split", "all", "--embedding", "emotion", "--rate", "5", "--epochs", "2",
                            "--hidden", "16", "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 0, r.output
    rep = _report(tmp_path / "run")["pooled"]
    assert rep["valence"]["n_steps"] == 9 and np.isfinite(rep["valence"]["rmse"])
    model = tmp_path / "run" / "seed_0" / "model.safetensors"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["kind"] == "temporal" and card["sampling"]["rate"] == 5

    r = runner.invoke(app, ["clip", str(media / "single_face.mp4"), str(media / "no_face.mp4"), "--model", str(model),
                            "-o", str(tmp_path / "clips.csv"), "--steps", str(tmp_path / "steps.csv")])
    assert r.exit_code == 1  # no_face.mp4 fails, single_face.mp4 is still written
    assert "no_face.mp4: no face found" in r.output
    clips, steps = pd.read_csv(tmp_path / "clips.csv"), pd.read_csv(tmp_path / "steps.csv")
    assert len(clips) == 1 and clips.loc[0, "steps"] == 12  # 2.4 s at 5 frames per second
    assert np.allclose(steps["time_s"], np.arange(12) / 5)
    assert steps["face"].all() and steps[["valence", "arousal"]].abs().le(1).all().all()
