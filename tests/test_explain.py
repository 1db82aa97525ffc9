"""Grad-CAM heat maps (``affectkit explain``) on a drawn face."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch", reason="Grad-CAM runs on the torch model")

from affectkit.explain import explain_image, grad_cam, plot_heatmaps  # noqa: E402
from generated import draw_face  # noqa: E402


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
