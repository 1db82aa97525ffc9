"""The timeline plot follows people by track_id, not by face index."""

import numpy as np
import pandas as pd
import pytest

from affectkit.expressions import EXPRESSIONS
from affectkit.table import make_table
from affectkit.viz import source_timelines, plot_table


def _row(frame, face, track, valence, expression="happiness", imputed=False):
    probs = {e: 1.0 if e == expression else 0.0 for e in EXPRESSIONS}
    return {"source": "two.mp4", "frame": frame, "time_s": frame / 10, "face": face, "track_id": track,
            "imputed": imputed, "x": 0.0, "y": 0.0, "width": 10.0, "height": 10.0, "face_score": 0.9, **probs,
            "expression": expression, "valence": valence, "arousal": 0.0}


def _two_people():
    """Two people whose face index swaps every frame: person 0 has valence +0.8, person 1 -0.8.

    Person 1 is absent from frames 5 and 6, and a third track appears in frame 9 only.
    """
    rows = []
    for f in range(10):
        people = [(0, 0.8)] + ([] if f in (5, 6) else [(1, -0.8)])
        if f % 2:
            people.reverse()
        rows += [_row(f, i, k, v) for i, (k, v) in enumerate(people)]
    rows.append(_row(9, len(people), 2, 0.0))
    return make_table(rows)


def test_one_timeline_per_track_with_gaps():
    df = _two_people()
    lines = dict(source_timelines(df, "two.mp4", max_tracks=2))
    assert list(lines) == ["track 0 (10 rows)", "track 1 (8 rows)"]  # the one-row track 2 is left out
    p0, p1 = lines["track 0 (10 rows)"], lines["track 1 (8 rows)"]
    assert np.allclose(p0["valence"].to_numpy(float), 0.8)  # no zigzag between the two people
    v1 = p1["valence"].to_numpy(float)
    assert np.isnan(v1[[5, 6]]).all() and np.allclose(np.delete(v1, [5, 6]), -0.8)
    assert np.allclose(p1["time_s"].to_numpy(float), np.arange(10) / 10)  # absent frames keep their time


def test_without_tracks_face_zero_is_plotted():
    df = _two_people()
    df["track_id"] = pd.NA
    [(label, rows)] = source_timelines(df, "two.mp4", max_tracks=4)
    assert label == "face 0" and len(rows) == 10
    # face 0 alternates between the people here, which is what tracking is for
    assert set(np.round(rows["valence"].to_numpy(float), 1)) == {0.8, -0.8}


@pytest.mark.parametrize("with_smooth", [False, True])
def test_plot_writes_a_panel_per_person(tmp_path, with_smooth):
    df = _two_people()
    if with_smooth:
        df["valence_smooth"] = df["valence"] * 0.5
        df["arousal_smooth"] = df["arousal"]
    df.loc[df["frame"] == 3, "imputed"] = True
    path = plot_table(df, tmp_path / "plot.png", max_tracks=3)
    assert path.stat().st_size > 0
    import matplotlib.image as mpimg

    height = mpimg.imread(path).shape[0]
    single = plot_table(df, tmp_path / "one.png", max_tracks=1)
    assert height > 2 * mpimg.imread(single).shape[0]  # three panels against one
