"""Grad-CAM heat maps (``affectkit explain``) on a drawn face."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch", reason="Grad-CAM runs on the torch model")

from affectkit.explain import explain_image, explain_video, grad_cam, plot_heatmaps  # noqa: E402
from generated import draw_face, write_face_video  # noqa: E402


@pytest.fixture(scope="module")
def face_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("explain") / "face.png"
    Image.fromarray(draw_face()).save(path)
    return path


def test_heat_maps_are_per_face_and_per_class(face_png, tmp_path):
    (face,) = explain_image(face_png)
    assert face.heat.shape == face.crop.shape[:2] and face.heat.dtype == np.float32
    assert np.isfinite(face.heat).all() and 0 <= face.heat.min() and face.heat.max() <= 1
    assert face.heat.max() > 0.9 and face.heat.std() > 0.01  # normalised, and not flat
    x, y, w, h = face.box
    assert x < 160 < x + w and y < 120 < y + h  # the drawn face
    other = next(e for e in ("happiness", "sadness") if e != face.expression)
    (alt,) = explain_image(face_png, expression=other)
    assert alt.expression == other and alt.probability < face.probability
    assert np.abs(alt.heat - face.heat).mean() > 1e-3  # another class, another map
    out = plot_heatmaps([face, alt], tmp_path / "heat.png", title="test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_grad_cam_finds_the_pixels_a_toy_network_uses():
    import torch

    class Toy(torch.nn.Module):
        """Class k is the mean of feature map k (a 1x1 convolution passes each input channel through)."""

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 2, 1, bias=False)
            with torch.no_grad():
                self.conv.weight.copy_(torch.eye(2)[:, :, None, None])

        def forward(self, x):
            return {"logits": self.conv(x).mean((2, 3))}

    x = torch.zeros(1, 2, 16, 16)
    x[:, 0, :8, :8] = 1  # class 0 sees the top-left quarter
    x[:, 1, 8:, 8:] = 1  # class 1 the bottom-right one
    heat0, probs = grad_cam(Toy().eval(), x, target=0)
    heat1, _ = grad_cam(Toy().eval(), x, target=1)
    assert heat0.shape == (1, 16, 16) and probs.shape == (1, 2)
    assert heat0[0, :7, :7].min() > 0.99 and heat0[0, 9:, 9:].max() < 1e-6
    assert heat1[0, 9:, 9:].min() > 0.99 and heat1[0, :7, :7].max() < 1e-6


def test_explain_refuses_unknown_expression(face_png):
    from affectkit.errors import OptionError

    with pytest.raises(OptionError, match="expression"):
        explain_image(face_png, expression="joy")


def test_explain_command(face_png, tmp_path):
    from typer.testing import CliRunner

    from affectkit.cli import app

    out = tmp_path / "heat.png"
    r = CliRunner().invoke(app, ["explain", str(face_png), "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    blank = tmp_path / "blank.png"
    Image.fromarray(np.full((240, 320, 3), 90, np.uint8)).save(blank)
    r = CliRunner().invoke(app, ["explain", str(blank), "-o", str(tmp_path / "none.png")])
    assert r.exit_code == 1 and "no face found" in r.output and not (tmp_path / "none.png").exists()
    r = CliRunner().invoke(app, ["explain", str(face_png), "-o", str(tmp_path / "heat.txt")])
    assert r.exit_code == 2 and "must end in one of" in r.output
    video = write_face_video(tmp_path / "v.mp4", n_frames=6, fps=10)
    r = CliRunner().invoke(app, ["explain", str(video), "-o", str(tmp_path / "video.png")])
    assert r.exit_code == 0 and "1 face(s)" in r.output, r.output
    assert (tmp_path / "video.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = CliRunner().invoke(app, ["explain", str(video), "--expression", "fear", "-o", str(tmp_path / "no.png")])
    assert r.exit_code == 2 and "for images" in r.output and not (tmp_path / "no.png").exists()


def test_explain_video_takes_each_track_at_its_clearest_frame(tmp_path):
    from affectkit import analyze
    from affectkit.errors import OptionError
    from affectkit.expressions import EXPRESSIONS

    video = write_face_video(tmp_path / "v.mp4", n_frames=12, fps=10, two_faces=True)
    df = analyze(video)
    faces = df[df["face"].notna()]
    tracks = faces["track_id"].nunique()
    assert tracks >= 1
    heats = explain_video(video, df)
    assert len(heats) == tracks
    # each track's row with the highest top probability: the face explained there
    tops = {t: g.loc[g[list(EXPRESSIONS)].max(axis=1).idxmax()] for t, g in faces.groupby("track_id")}
    matched = []
    for h in heats:
        assert h.heat.shape == h.crop.shape[:2] and 0 <= h.heat.min() and h.heat.max() <= 1
        matched += [t for t, r in tops.items()
                    if iou(h.box, [r["x"], r["y"], r["width"], r["height"]]) > 0.8]  # found again by detection
    assert sorted(matched) == sorted(tops)
    assert len(explain_video(video, df, max_tracks=1)) == 1
    assert explain_video(video, df.iloc[0:0]) == []
    with pytest.raises(OptionError, match="max_tracks"):
        explain_video(video, df, max_tracks=0)


def iou(a, b) -> float:
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)
