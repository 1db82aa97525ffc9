"""Tracking (track_id), per-track smoothing and imputation, on synthetic series and real media."""

import math

import numpy as np
import pandas as pd
import pytest

from affectkit import analyze
from affectkit.expressions import EXPRESSIONS
from affectkit.faces.tracking import Tracker, box_iou
from affectkit.table import SMOOTH_COLUMNS, make_table, table_columns
from affectkit.timeline import Timeline


# ---- tracker on synthetic boxes -------------------------------------------------------------

def _crossing(predict: bool) -> list[tuple[int, int]]:
    """Two faces crossing paths at 600 px/s, reported left to right as a detector might.

    Returns (id of the face at y=100, id of the face at y=110) per frame.
    """
    tracker = Tracker(max_gap_s=1.0, predict=predict)
    out = []
    for i in range(8):
        a, b = [i * 60, 100, 80, 80], [420 - i * 60, 110, 80, 80]
        boxes = sorted([a, b])
        ids = tracker.update(i * 0.1, np.array(boxes, float))
        by_y = {box[1]: k for box, k in zip(boxes, ids)}
        out.append((by_y[100], by_y[110]))
    return out


def test_faces_crossing_paths_keep_their_ids():
    assert _crossing(predict=True) == [(0, 1)] * 8
    # Without the constant-velocity prediction the nearest last box is the other face's.
    assert _crossing(predict=False)[-1] == (1, 0)


def test_gap_shorter_than_max_gap_keeps_the_id_longer_gets_a_new_one():
    box = np.array([[100, 100, 80, 80]], float)
    tracker = Tracker(max_gap_s=1.0)
    assert tracker.update(0.0, box) == [0]
    assert tracker.update(0.2, box) == [0]
    assert tracker.update(0.4, box[:0]) == []  # face missing
    assert tracker.update(1.1, box) == [0]  # missing since 0.4 s, back after 0.7 s
    assert tracker.update(1.3, box[:0]) == []
    assert tracker.update(2.5, box + 3) == [1]  # missing since 1.3 s, back after 1.2 s: a new person
    assert tracker.active == 1  # the expired track is dropped, not kept


def test_the_gap_is_in_seconds_whatever_the_frame_step():
    box, none = np.array([[50, 60, 100, 100]], float), np.zeros((0, 4))
    fine, coarse = Tracker(max_gap_s=0.5), Tracker(max_gap_s=0.5)
    for t in np.arange(0.0, 0.61, 0.1):  # missing from 0.1 s to 0.6 s: 0.5 s
        fine.update(t, box if t < 0.05 else none)
    assert fine.update(0.6, box) == [0] and fine.update(0.8, none) == [] and fine.update(1.4, box) == [1]
    assert coarse.update(0.0, box) == [0] and coarse.update(0.3, none) == [] and coarse.update(0.8, box) == [0]


def test_ids_start_at_zero_in_order_of_first_appearance():
    first = Tracker()
    assert first.update(0.0, np.array([[0, 0, 50, 50], [300, 0, 50, 50]], float)) == [0, 1]
    assert first.update(0.1, np.array([[600, 0, 50, 50], [300, 0, 50, 50], [2, 0, 50, 50]], float)) == [2, 1, 0]
    assert Tracker().update(0.0, np.array([[300, 0, 50, 50]], float)) == [0]  # a new source restarts


def test_tracker_rejects_bad_input():
    with pytest.raises(ValueError, match="max_gap_s"):
        Tracker(max_gap_s=-1)
    with pytest.raises(ValueError, match=r"\(N, 4\)"):
        Tracker().update(0.0, np.zeros((2, 3)))


def test_box_iou():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]]))
    assert np.allclose(iou, [[1.0, 50 / 150, 0.0]])


# ---- timeline: smoothing and imputation on synthetic rows -----------------------------------

def _row(frame: int, t: float, track: int | None, valence: float, arousal: float = 0.0) -> dict:
    row = {"source": "s.mp4", "frame": frame, "time_s": t, "imputed": False}
    if track is None:
        return row
    probs = np.full(len(EXPRESSIONS), (1 - 0.4) / (len(EXPRESSIONS) - 1))
    probs[3] = 0.4
    row.update(face=0, track_id=track, x=10.0, y=10.0, width=50.0, height=50.0, face_score=1.0,
               valence=valence, arousal=arousal, expression="happiness", **dict(zip(EXPRESSIONS, probs)))
    return row


def _run(timeline: Timeline, frames: list[list[dict]]) -> pd.DataFrame:
    rows = []
    for r in frames:
        rows += timeline.push(r[0]["time_s"], r)
    rows += timeline.flush()
    return make_table(rows, table_columns(smooth=timeline.smooth_s > 0))


def test_smoothing_reduces_frame_to_frame_variance_and_keeps_raw_values():
    rng = np.random.default_rng(0)
    noisy = np.clip(0.3 + 0.2 * rng.standard_normal(300), -1, 1)
    df = _run(Timeline(smooth_s=0.3), [[_row(i, i / 30, 0, v)] for i, v in enumerate(noisy)])
    assert list(df.columns[-len(SMOOTH_COLUMNS):]) == list(SMOOTH_COLUMNS)
    assert np.array_equal(df["valence"].to_numpy(), noisy)
    assert np.diff(df["valence_smooth"]).var() < 0.1 * np.diff(noisy).var()
    assert abs(df["valence_smooth"].iloc[100:].mean() - 0.3) < 0.05  # no bias
    assert np.allclose(df[[f"{e}_smooth" for e in EXPRESSIONS]].sum(axis=1), 1.0)


def test_smoothing_leaves_a_constant_series_unchanged_and_is_per_track():
    frames = [[_row(i, i / 10, 0, 0.5, -0.2), dict(_row(i, i / 10, 1, -0.7), face=1)] for i in range(40)]
    df = _run(Timeline(smooth_s=1.0), frames)
    assert (df.loc[df["track_id"] == 0, "valence_smooth"] == 0.5).all()
    assert (df.loc[df["track_id"] == 0, "arousal_smooth"] == -0.2).all()
    assert (df.loc[df["track_id"] == 1, "valence_smooth"] == -0.7).all()
    assert (df["expression_smooth"] == "happiness").all()


def test_imputation_fills_a_short_gap_with_the_moving_average_and_marks_it():
    values = np.linspace(-0.5, 0.5, 60)
    missing = set(range(20, 24)) | set(range(35, 52))  # a 0.5 s gap, then a 1.8 s one
    frames = [[_row(i, i / 10, None if i in missing else 0, values[i])] for i in range(60)]
    df = _run(Timeline(impute_s=1.0), frames)
    assert list(df["frame"]) == list(range(60))  # one row per frame, in order
    imputed = df[df["imputed"]]
    assert list(imputed["frame"]) == [20, 21, 22, 23]  # the long gap is left empty
    assert (imputed["track_id"] == 0).all() and imputed["face"].isna().all() and imputed["x"].isna().all()
    for _, r in imputed.iterrows():
        window = [i for i in range(60) if i not in missing and abs(i - r["frame"]) <= 5]
        assert math.isclose(r["valence"], values[window].mean(), abs_tol=1e-12)
    assert np.allclose(imputed[list(EXPRESSIONS)].sum(axis=1), 1.0)
    assert df.loc[~df["imputed"] & df["frame"].isin(list(range(35, 52))), "valence"].isna().all()
    assert not df.loc[df["face"].notna(), "imputed"].any()


def test_imputation_and_smoothing_hold_a_bounded_buffer():
    timeline = Timeline(smooth_s=0.5, impute_s=1.0)
    fps, emitted, held = 30, 0, []
    for i in range(3000):  # 100 s, three people, one of them blinking out now and then
        t = i / fps
        rows = [_row(i, t, 0, 0.1), dict(_row(i, t, 1, 0.2), face=1)]
        if i % 50 >= 10:
            rows.append(dict(_row(i, t, 2 + i // 500, 0.3), face=2))
        emitted += len(timeline.push(t, rows))
        held.append((timeline.held_frames, timeline.held_values))
    emitted += len(timeline.flush())
    assert max(h[0] for h in held) <= fps * 1.0 + 2
    assert max(h[1] for h in held) <= 3 * (fps * 1.5 + 2)
    assert len(timeline._ema) <= 4 and timeline.held_frames == 0
    assert emitted > 3000 * 2


def test_timeline_rejects_bad_options():
    with pytest.raises(ValueError, match="impute_s"):
        Timeline(impute_s=-1)
    with pytest.raises(ValueError, match="smooth_s"):
        Timeline(smooth_s=float("nan"))


# ---- real media -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def video_table(media, untrained_model):
    videos = [media / "single_face.mp4", media / "face_noface.mov", media / "noface_face.mov"]
    # Every 10th frame, and faces of 100 px and more (they are 150-230 px), to keep MTCNN quick.
    return analyze(videos, model=untrained_model, every=10, min_face_size=100, smooth=0.3, impute=0.5)


def test_one_person_videos_give_exactly_one_track(video_table):
    df = video_table
    assert df["track_id"].dtype == "Int64" and df["imputed"].dtype == bool
    for source, sub in df.groupby("source"):
        faces = sub[sub["face"].notna()]
        assert len(faces) >= 6, source
        assert set(faces["track_id"]) == {0}, source
        assert sub.loc[sub["face"].isna() & ~sub["imputed"], "track_id"].isna().all()


def test_a_face_that_leaves_or_arrives_is_not_imputed_at_the_ends(video_table):
    for name in ("face_noface.mov", "noface_face.mov"):
        sub = video_table[video_table["source"].str.endswith(name)]
        assert sub["face"].isna().sum() >= 8  # the faceless part stays as empty rows
        assert not sub["imputed"].any()
        faces = sub[sub["face"].notna()]
        assert faces["valence_smooth"].notna().all()


def test_multi_face_image_gets_distinct_tracks_and_each_source_restarts(media, untrained_model):
    df = analyze([media / "multi_face.jpg", media / "single_face.jpg"], model=untrained_model)
    multi = df[df["source"].str.endswith("multi_face.jpg")]
    assert list(multi["track_id"]) == [0, 1, 2, 3, 4]
    assert list(df.loc[df["source"].str.endswith("single_face.jpg"), "track_id"]) == [0]


def test_no_track_leaves_track_id_empty(media, untrained_model):
    df = analyze(media / "multi_face.jpg", model=untrained_model, track=False)
    assert len(df) == 5 and df["track_id"].isna().all()
    with pytest.raises(ValueError, match="track"):
        analyze(media / "multi_face.jpg", model=untrained_model, track=False, smooth=1.0)


def test_sparse_sampling_is_not_a_gap():
    """With --every 24 at 24 fps, analysed frames are 1.001 s apart: a face seen in each
    keeps its id under max_gap 1 s, and one missing for two analysed frames loses it."""
    from affectkit.faces.tracking import Tracker

    box = np.array([[100.0, 100.0, 80.0, 80.0]])
    tr = Tracker(1.0)
    assert [tr.update(t, box)[0] for t in (0.0, 1.001, 2.002, 3.003)] == [0, 0, 0, 0]
    tr.update(4.004, np.zeros((0, 4)))
    tr.update(5.005, np.zeros((0, 4)))
    assert tr.update(6.006, box) == [1]
