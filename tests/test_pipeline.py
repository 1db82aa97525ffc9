import numpy as np
import pandas as pd
import pytest

from affectkit import analyze
from affectkit.errors import InputError
from affectkit.expressions import EXPRESSIONS
from affectkit.table import CORE_COLUMNS


def test_video_table_contract(media, untrained_model):
    df = analyze(media / "single_face.mp4", model=untrained_model)
    assert list(df.columns[: len(CORE_COLUMNS)]) == list(CORE_COLUMNS)
    frames = df["frame"].nunique()
    assert frames == 72
    with_face = df.loc[df["face"].notna(), "frame"].nunique()
    assert with_face / frames >= 0.95
    faces = df[df["face"].notna()]
    assert np.allclose(faces[list(EXPRESSIONS)].sum(axis=1), 1.0, atol=1e-5)
    assert (faces["expression"] == faces[list(EXPRESSIONS)].idxmax(axis=1)).all()
    assert faces[["valence", "arousal"]].abs().le(1).all().all()
    assert faces["time_s"].is_monotonic_increasing
    assert set(df.attrs["timings_s"]) == {"decode", "detect", "align", "model"}


def test_faceless_media_give_empty_rows_not_errors(media, untrained_model):
    df = analyze([media / "free-mountain-vector-01.jpg", media / "no_face.mp4"], model=untrained_model, every=10)
    assert len(df) > 1
    assert df["face"].isna().all() and df["valence"].isna().all()
    img = df[df["source"].str.endswith(".jpg")]
    assert len(img) == 1 and img["time_s"].isna().all()


def test_faces_cropped_treats_each_image_as_a_face(media, untrained_model, tmp_path):
    df = analyze([media / "0-f1-su-ph.jpg", media / "BWPictureHuman.jpg"], faces_cropped=True, model=untrained_model)
    assert len(df) == 2 and (df["face"] == 0).all()
    assert df["face_score"].isna().all()
    assert (df["x"] == 0).all()


def test_multi_face_image_gets_one_row_per_face(media, untrained_model):
    df = analyze(media / "multi_face.jpg", model=untrained_model)
    assert list(df["face"]) == [0, 1, 2, 3, 4]


def test_bad_file_in_a_batch_is_collected(media, untrained_model, tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"nonsense")
    with pytest.raises(InputError, match=r"bad\.mp4"):
        analyze([bad, media / "single_face.jpg"], model=untrained_model)
    df = analyze([bad, media / "single_face.jpg"], model=untrained_model, on_error="collect")
    assert len(df) == 1 and df["source"].iloc[0].endswith("single_face.jpg")
    assert len(df.attrs["errors"]) == 1 and "bad.mp4" in df.attrs["errors"][0]


def test_truncated_video_keeps_frames_before_the_damage(media, untrained_model, tmp_path):
    data = (media / "single_face.mp4").read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    df = analyze(cut, model=untrained_model, on_error="collect")
    assert df.attrs["errors"] and "cut.mp4" in df.attrs["errors"][0]
    assert len(df) == 0 or df["frame"].max() < 72


def test_crop_policies_and_haar_run(media, untrained_model):
    for crop in ("landmark_box", "box"):
        df = analyze(media / "single_face.jpg", model=untrained_model, crop=crop)
        assert len(df) == 1 and df["face"].iloc[0] == 0
    df = analyze(media / "single_face.jpg", model=untrained_model, detector="haar")
    assert df["face"].notna().any()


def test_bad_options(media, untrained_model):
    with pytest.raises(ValueError, match="every"):
        analyze(media / "single_face.jpg", model=untrained_model, every=0)
    with pytest.raises(ValueError, match="on_error"):
        analyze(media / "single_face.jpg", model=untrained_model, on_error="ignore")
