import numpy as np
import pytest

from affectkit.faces.align import NG2015_ABOVE, NG2015_SIDE, align_face, align_ng2015, crop_landmark_box
from affectkit.faces.types import Face


def _dot_image(points, size=(400, 300)):
    img = np.zeros((size[1], size[0], 3), np.uint8)
    for x, y in points:
        img[int(round(y)) - 2 : int(round(y)) + 3, int(round(x)) - 2 : int(round(x)) + 3] = 255
    return img


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


@pytest.mark.parametrize("angle_deg", [0.0, 20.0, -35.0])
def test_ng2015_levels_eyes_and_places_them_at_the_paper_margins(angle_deg):
    e2e, centre = 60.0, np.array([200.0, 150.0])
    a = np.deg2rad(angle_deg)
    half = np.array([np.cos(a), np.sin(a)]) * e2e / 2
    left, right = centre - half, centre + half
    img = _dot_image([left])  # only the left eye, to tell the two apart
    img[..., 1] = _dot_image([right])[..., 0]  # right eye in the green channel
    out = align_ng2015(img, left, right, out_size=112)
    lx, ly = _centroid(out[..., 0] > 100)
    rx, ry = _centroid(out[..., 1] > 100)
    width = e2e * (1 + 2 * NG2015_SIDE)
    height = e2e * (NG2015_ABOVE + 1.35)
    assert abs(ly - ry) < 1.5  # eye line level
    assert lx == pytest.approx(NG2015_SIDE * e2e / width * 112, abs=1.5)
    assert rx == pytest.approx((NG2015_SIDE + 1) * e2e / width * 112, abs=1.5)
    assert ly == pytest.approx(NG2015_ABOVE * e2e / height * 112, abs=1.5)


def test_landmark_box_crop_spans_the_landmarks():
    pts = np.array([[100, 100], [200, 100], [150, 200]], np.float32)
    img = _dot_image(pts)
    out = crop_landmark_box(img, pts, out_size=100, margin=0.1)
    ys, xs = np.nonzero(out[..., 0] > 100)
    assert xs.min() < 20 and xs.max() > 80 and ys.max() > 80


def test_align_face_falls_back_to_box_without_eyes():
    img = np.zeros((100, 100, 3), np.uint8)
    img[20:60, 30:70] = 200
    face = Face(np.array([30, 20, 40, 40], np.float32), 1.0, None)
    out = align_face(img, face, "ng2015", out_size=40)
    assert out.shape == (40, 40, 3) and out.mean() > 190
    with pytest.raises(ValueError, match="crop policy"):
        align_face(img, face, "nope")
