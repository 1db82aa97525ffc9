"""``analyze --audio``: voice emotion along a video's sound and its late fusion with the face.

The test clip is a real face video with EmoDB speech laid over it
(:func:`affectkit.testing.av_clip.make_av_clip`), because the shared clips carry no speech.
The bundled voice model was trained on all of EmoDB, so these files are its training
data: the tests check the plumbing (timing, class mapping, fusion), not accuracy.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.expressions import EXPRESSIONS
from affectkit.table import VOICE_COLUMNS

runner = CliRunner()


@pytest.fixture(scope="module")
def anger_clip(shared, tmp_path_factory):
    from affectkit.testing.av_clip import make_av_clip, select_emodb

    out = tmp_path_factory.mktemp("av") / "anger.mp4"
    make_av_clip(shared / "media" / "single_face.mp4", select_emodb(shared / "data" / "emodb" / "wav", emotion="anger")[:2], out)
    return out


def _video_only(src, dst):
    """Copy a video's video stream without its sound."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        for packet in inp.demux(s_in):
            if packet.dts is None:
                continue
            packet.stream = s_out
            out.mux(packet)
    return dst


def test_analyze_audio_adds_voice_and_fused_columns(anger_clip, tmp_path):
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["analyze", str(anger_clip), "--audio", "--every", "6", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns[-len(VOICE_COLUMNS):]) == list(VOICE_COLUMNS) and len(df) == 12
    assert df["voice_surprise"].isna().all()  # EmoDB has no surprise: an explicit gap, not a zero
    voice = df[[f"voice_{e}" for e in EXPRESSIONS if e != "surprise"]]
    assert np.allclose(voice.sum(axis=1), 1, atol=1e-5)  # boredom dropped and the rest renormalised
    assert (df["voice_expression"] == "anger").mean() >= 0.75  # angry speech (the model's training data)
    fused = df[[f"fused_{e}" for e in EXPRESSIONS]]
    assert np.allclose(fused.sum(axis=1), 1, atol=1e-5)
    face = df[list(EXPRESSIONS)]
    # per class, the fused value is the mean of face and voice where both have it
    both = [e for e in EXPRESSIONS if e != "surprise"]
    ratio = df[[f"fused_{e}" for e in both]].to_numpy() / ((face[both].to_numpy() + voice[[f"voice_{e}" for e in both]].to_numpy()) / 2)
    assert np.allclose(ratio, ratio[:, :1], rtol=1e-4)  # one renormalising factor per row


def test_video_without_sound_is_reported_and_fused_is_the_face(media, tmp_path):
    silent = _video_only(media / "single_face.mp4", tmp_path / "nosound.mp4")
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["analyze", str(silent), str(media / "single_face.jpg"), "--audio", "--every", "12",
                            "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert "nosound.mp4: no audio track" in r.output
    df = pd.read_csv(out)
    assert df["voice_expression"].isna().all()
    assert np.allclose(df[[f"fused_{e}" for e in EXPRESSIONS]].to_numpy(), df[list(EXPRESSIONS)].to_numpy())


def test_frame_without_face_is_fused_from_the_voice(anger_clip):
    from affectkit.audio.voice import VoiceTrack, add_voice_columns

    track = VoiceTrack(anger_clip)
    assert track.status == "ok" and track.window_s == 2.0
    rows = [{"time_s": 1.0}, {"time_s": 50.0, **{e: 1 / 7 for e in EXPRESSIONS}}]
    add_voice_columns(rows, track)
    assert rows[0]["fused_expression"] == rows[0]["voice_expression"]
    assert rows[0]["fused_surprise"] == 0  # no face and no voice column for surprise
    assert rows[1]["voice_expression"] is None  # 50 s is past the end of the sound
    assert rows[1]["fused_anger"] == pytest.approx(1 / 7)


@pytest.mark.slow
def test_cli_trains_a_voice_model_and_analyze_uses_it(shared, anger_clip, tmp_path, cache):
    """affectkit train on an EmoDB subset (3 speakers, leave-one-speaker-out), then the
    exported MLP drives analyze --audio."""
    import json

    wavs = sorted((shared / "data" / "emodb" / "wav").glob("*.wav"))
    subset = tmp_path / "emodb" / "wav"
    subset.mkdir(parents=True)
    per = {}
    for w in wavs:
        key = (w.name[:2], w.name[5])
        if w.name[:2] in ("03", "08", "09") and per.get(key, 0) < 3:
            per[key] = per.get(key, 0) + 1
            (subset / w.name).symlink_to(w)
    r = runner.invoke(app, ["train", "voice", "--data", f"emodb:{subset.parent}", "--model", "mlp", "--seeds", "0",
                            "--out", str(tmp_path / "run"), "-q"])
    assert r.exit_code == 0, r.output
    rep = json.loads((tmp_path / "run" / "report.json").read_text())
    assert rep["pooled"]["n"] == len(list(subset.iterdir())) and 0 <= rep["pooled"]["uar"] <= 1
    model = tmp_path / "run" / "model.safetensors"
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["features"]["speaker_norm"] is True and "boredom" in card["class_names"]
    out = tmp_path / "t.csv"
    r = runner.invoke(app, ["analyze", str(anger_clip), "--audio", "--audio-model", str(model), "--every", "12",
                            "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    assert pd.read_csv(out)["voice_expression"].notna().all()
    r = runner.invoke(app, ["train", "voice", "--data", f"emodb:{tmp_path / 'nope'}", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "nope" in r.output
    # The registry says what the data are; the wrong subcommand is told which one to use.
    r = runner.invoke(app, ["train", "faces", "--data", f"emodb:{subset.parent}", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "emodb is voice data; train it with 'affectkit train voice'" in r.output
