"""Speech-emotion corpus loaders on generated fixture layouts (tiny wav files)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from affectkit.audio.corpora import load_cremad, load_emodb, load_iemocap, load_ravdess
from affectkit.errors import DataError


def wav(path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.random.default_rng(len(str(path))).normal(0, 0.1, 1600).astype(np.float32), 16000)


def test_emodb_layout_and_errors(tmp_path):
    for name in ("03a01Wa.wav", "08b02Lb.wav", "16a05Tc.wav"):
        wav(tmp_path / "wav" / name)
    s = load_emodb(tmp_path)
    assert s.class_names == ("anger", "boredom", "sadness")
    assert list(s.labels) == [0, 1, 2] and s.subjects == ["03", "08", "16"] and s.genders == ["m", "f", "f"]
    assert load_emodb(tmp_path / "wav").names == s.names  # the wav folder itself works too
    wav(tmp_path / "wav" / "notemodb.wav")
    with pytest.raises(DataError, match="notemodb.wav"):
        load_emodb(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty"):
        load_emodb(tmp_path / "empty")
    with pytest.raises(DataError, match="not found"):
        load_emodb(tmp_path / "absent")


def test_ravdess_layout(tmp_path):
    wav(tmp_path / "Actor_01" / "03-01-05-01-01-01-01.wav")  # angry, actor 1 (male)
    wav(tmp_path / "Actor_01" / "03-01-02-02-01-02-01.wav")  # calm
    wav(tmp_path / "Actor_02" / "03-01-08-01-02-01-02.wav")  # surprised, actor 2 (female)
    wav(tmp_path / "Actor_02" / "03-02-03-01-01-01-02.wav")  # song: skipped
    wav(tmp_path / "Actor_02" / "01-01-03-01-01-01-02.wav")  # not audio-only: skipped
    s = load_ravdess(tmp_path)
    assert len(s) == 3
    assert s.class_names == ("anger", "calm", "surprise")
    assert [s.class_names[i] for i in s.labels] == ["calm", "anger", "surprise"]
    assert s.subjects == ["01", "01", "02"] and s.genders == ["m", "m", "f"]
    with pytest.raises(DataError, match="RAVDESS"):
        load_ravdess(tmp_path / "Actor_01")


def test_cremad_layout_with_demographics(tmp_path):
    wav(tmp_path / "AudioWAV" / "1001_DFA_ANG_XX.wav")
    wav(tmp_path / "AudioWAV" / "1001_IEO_HAP_HI.wav")
    wav(tmp_path / "AudioWAV" / "1091_TIE_SAD_LO.wav")
    (tmp_path / "VideoDemographics.csv").write_text("ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,C,N\n1091,29,Female,A,N\n")
    s = load_cremad(tmp_path)
    assert s.class_names == ("anger", "happiness", "sadness")
    assert s.subjects == ["1001", "1001", "1091"] and s.genders == ["m", "m", "f"]
    (tmp_path / "VideoDemographics.csv").unlink()
    assert load_cremad(tmp_path).genders == ["", "", ""]
    with pytest.raises(DataError, match="CREMA-D"):
        load_cremad(tmp_path / "absent")


def test_iemocap_layout_four_classes(tmp_path):
    session = tmp_path / "Session1"
    ann = session / "dialog" / "EmoEvaluation"
    ann.mkdir(parents=True)
    (ann / "Ses01F_impro01.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_M001\texc\t[4.0000, 3.5000, 3.5000]\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_F002\tfru\t[2.0000, 3.5000, 3.5000]\n"
        "[20.0000 - 21.0000]\tSes01F_impro01_M003\tang\t[1.5000, 4.0000, 4.0000]\n"
    )
    for turn in ("F000", "M001", "F002", "M003"):
        wav(session / "sentences" / "wav" / "Ses01F_impro01" / f"Ses01F_impro01_{turn}.wav")
    s = load_iemocap(tmp_path)
    assert s.class_names == ("anger", "happiness", "neutral")  # fru dropped, exc -> happiness
    assert [s.class_names[i] for i in s.labels] == ["neutral", "happiness", "anger"]
    assert s.subjects == ["Ses01_F", "Ses01_M", "Ses01_M"] and s.genders == ["f", "m", "m"]
    (session / "sentences" / "wav" / "Ses01F_impro01" / "Ses01F_impro01_M003.wav").unlink()
    with pytest.raises(DataError, match="M003.wav"):
        load_iemocap(tmp_path)
    with pytest.raises(DataError, match="Session"):
        load_iemocap(session / "dialog")
