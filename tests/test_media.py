import numpy as np
import pytest

from affectkit.errors import InputError
from affectkit.io.media import expand_inputs, iter_frames, iter_video, read_image, to_rgb_uint8


def test_to_rgb_handles_grey_alpha_16bit_and_float():
    grey = np.full((4, 5), 100, np.uint8)
    assert to_rgb_uint8(grey).shape == (4, 5, 3)
    assert (to_rgb_uint8(grey) == 100).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent black -> white
    assert (to_rgb_uint8(rgba) == 255).all()
    rgba[..., 3] = 255
    assert (to_rgb_uint8(rgba) == 0).all()
    deep = np.full((3, 3), 65535, np.uint16)
    assert (to_rgb_uint8(deep) == 255).all()
    assert (to_rgb_uint8(np.full((2, 2, 3), 0.5, np.float32)) == 128).all()
    with pytest.raises(InputError, match="shape"):
        to_rgb_uint8(np.zeros((2, 2, 5), np.uint8))


def test_read_image_rgba_png(media):
    img = read_image(media / "Image_with_alpha.png")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_read_16bit_and_grey_png(tmp_path):
    import cv2

    deep = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    img = read_image(tmp_path / "deep.png")
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    assert img.max() > 200  # scaled, not clipped to the low byte
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((8, 8), 77, np.uint8))
    assert (read_image(tmp_path / "grey.png") == 77).all()


def test_bad_paths_name_the_file(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        expand_inputs([tmp_path / "missing.mp4"])
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    with pytest.raises(InputError, match=r"notes\.txt: unsupported format"):
        list(iter_frames(bad))
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(InputError, match=r"broken\.jpg"):
        read_image(corrupt)
    empty_dir = tmp_path / "empty"
    empty_dir.mkdir()
    with pytest.raises(InputError, match="no supported"):
        expand_inputs([empty_dir])


def test_video_frames_have_index_and_time(media):
    frames = list(iter_video(media / "single_face.mp4"))
    assert len(frames) == 72
    assert frames[0].image.shape == (360, 640, 3)
    assert [f.index for f in frames[:3]] == [0, 1, 2]
    assert frames[30].time_s == pytest.approx(1.0, abs=0.02)  # 30 fps
    every = list(iter_video(media / "single_face.mp4", every=10))
    assert [f.index for f in every] == list(range(0, 72, 10))


def test_corrupt_truncated_and_empty_videos(media, tmp_path):
    import av

    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(InputError, match=r"garbage\.mp4"):
        list(iter_video(garbage))

    data = (media / "single_face.mp4").read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(InputError, match=r"truncated\.mp4"):
        list(iter_video(truncated))

    empty = tmp_path / "empty.mp4"
    with av.open(str(empty), "w") as out:
        s = out.add_stream("mpeg4", rate=25)
        s.width, s.height = 64, 64
    with pytest.raises(InputError, match=r"empty\.mp4"):
        list(iter_video(empty))


def test_folder_expansion_is_sorted_and_filtered(tmp_path):
    for name in ("b.jpg", "a.png", "skip.txt", ".hidden.jpg"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in expand_inputs([tmp_path])] == ["a.png", "b.jpg"]
