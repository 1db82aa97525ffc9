import numpy as np
import pytest

from affectkit.faces.detect import create_detector
from affectkit.io.media import read_image


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn")


def test_mtcnn_counts_faces_with_five_landmarks(mtcnn, media):
    one, many, none = mtcnn.detect_batch(
        [read_image(media / n) for n in ("single_face.jpg", "multi_face.jpg", "free-mountain-vector-01.jpg")]
    )
    assert len(one) == 1
    assert len(many) == 5
    assert len(none) == 0
    face = one[0]
    assert face.landmarks.shape == (5, 2) and 0.9 <= face.score <= 1.0
    x, y, w, h = face.box
    le, re, nose = face.landmarks[:3]
    assert x < le[0] < re[0] < x + w  # eyes inside the box, left of right
    assert le[1] < nose[1] < y + h  # nose below the eyes


def test_haar_finds_the_face_and_eyes(media):
    haar = create_detector("haar")
    (faces,) = haar.detect_batch([read_image(media / "single_face.jpg")])
    assert len(faces) >= 1
    largest = max(faces, key=lambda f: f.box[2] * f.box[3])
    mtcnn_box = create_detector("mtcnn").detect_batch([read_image(media / "single_face.jpg")])[0][0].box
    # The two detectors agree on where the face is (centres within half a box).
    c_h = largest.box[:2] + largest.box[2:] / 2
    c_m = mtcnn_box[:2] + mtcnn_box[2:] / 2
    assert np.linalg.norm(c_h - c_m) < largest.box[2] / 2


def test_unknown_detector():
    with pytest.raises(ValueError, match="detector must be"):
        create_detector("yolo")


def test_pool_frame_equals_area_pool_of_the_whole_frame():
    from affectkit.faces.mtcnn_onnx import area_pool, integral, pool_frame

    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    table = integral(frame)
    for size in [(11, 16), (37, 53), (20, 7), (50, 80), (1, 1)]:  # shrink, same, uneven, enlarge, one pixel
        fast = pool_frame(table, size)
        assert fast.shape == (1, 3, *size) and fast.dtype == np.float32
        assert np.array_equal(fast, area_pool(table, [0], [37], [0], [53], size)), size
    # the mean of a constant frame is that constant
    assert np.all(pool_frame(integral(np.full((9, 9, 3), 7, np.uint8)), (4, 4)) == 7)
