"""The main job (``analyze`` -> table) on media the tests draw themselves: no ../shared needed.

A drawn cartoon face (tests/generated.py) is found by MTCNN, so detection, alignment,
the bundled model, tracking, smoothing and imputation all run for real.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from generated import draw_face, write_face_video, write_image
from typer.testing import CliRunner

import affectkit
from affectkit.cli import app
from affectkit.expressions import EXPRESSIONS
from affectkit.table import table_columns


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """30 frames at 10 fps; the face is absent in frames 10-12 (0.3 s)."""
    return write_face_video(tmp_path_factory.mktemp("v") / "face.mp4", n_frames=30, absent=(10, 11, 12))


def test_table_contract_on_a_drawn_face(face_video):
    df = affectkit.analyze(face_video)
    assert tuple(df.columns) == table_columns()
    assert list(df["frame"]) == list(range(30))  # one row per frame: one face, or none
    assert np.allclose(df["time_s"], np.arange(30) / 10)
    faces = df[df["face"].notna()]
    found = set(faces["frame"])
    assert not found & {10, 11, 12} and len(found) >= 25  # a drawn face is not always found in every frame
    assert np.allclose(faces[list(EXPRESSIONS)].sum(axis=1), 1, atol=1e-5)
    assert (faces["expression"] == faces[list(EXPRESSIONS)].idxmax(1)).all()
    assert faces[["valence", "arousal"]].abs().le(1).all().all()
    assert (faces["face_score"] > 0.9).all()
    # The face drifts right by one pixel a frame; the boxes follow it.
    assert faces["x"].iloc[-1] - faces["x"].iloc[0] == pytest.approx(29, abs=6)
    empty = df[df["face"].isna()]
    assert empty[list(EXPRESSIONS) + ["valence", "x"]].isna().all().all()


def test_every_nth_frame(face_video):
    df = affectkit.analyze(face_video, every=4)
    assert list(df["frame"]) == list(range(0, 30, 4))


def test_tracking_keeps_one_id_across_a_short_gap_and_separates_two_people(tmp_path, face_video):
    df = affectkit.analyze(face_video, max_gap=1.0)
    assert set(df["track_id"].dropna()) == {0}
    df = affectkit.analyze(face_video, max_gap=0.1)  # the 0.3 s gap now ends the track
    ids = df.dropna(subset=["track_id"])
    assert set(ids.loc[ids["frame"] < 10, "track_id"]) == {0} and set(ids.loc[ids["frame"] > 12, "track_id"]) == {1}
    two = affectkit.analyze(write_face_video(tmp_path / "two.mp4", n_frames=20, two_faces=True))
    per_track = two.dropna(subset=["track_id"]).groupby("track_id")["x"].mean()
    assert len(per_track) == 2 and per_track[0] < per_track[1]  # ids follow the order of first appearance, left one first


def test_smoothing_and_imputation(face_video):
    df = affectkit.analyze(face_video, smooth=0.5, impute=0.5)
    assert {"valence_smooth", "arousal_smooth"} <= set(df.columns)
    imputed = df[df["imputed"]]
    assert {10, 11, 12} <= set(imputed["frame"])
    assert imputed["face"].isna().all() and imputed["valence"].notna().all()
    faces = df[df["face"].notna()]
    # A causal moving average varies less than the raw series.
    assert faces["valence_smooth"].diff().abs().sum() <= faces["valence"].diff().abs().sum() + 1e-9
    none = affectkit.analyze(face_video, impute=0.2)  # gaps longer than the window stay empty
    assert not none["imputed"].any()


def test_cli_writes_the_same_rows_as_the_function(tmp_path, face_video):
    image = tmp_path / "face.png"
    from PIL import Image

    Image.fromarray(draw_face()).save(image)
    out = tmp_path / "t.parquet"
    result = CliRunner().invoke(app, ["analyze", str(face_video), str(image), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(out)
    direct = affectkit.analyze([face_video, image])
    pd.testing.assert_frame_equal(written.reset_index(drop=True), direct.reset_index(drop=True), check_dtype=False)
    assert written.loc[written["source"] == str(image), "face"].tolist() == [0]


def test_a_folder_of_images_without_faces(tmp_path):
    for i in range(3):
        write_image(tmp_path / f"noise{i}.png", (80, 60), seed=i)
    df = affectkit.analyze(tmp_path)
    assert len(df) == 3 and df["face"].isna().all() and df["time_s"].isna().all()
