"""Issue #16: ``analyze`` (faces and ``--audio``) and the Recognizer run on ONNX Runtime and
never import torch; the ONNX path gives the torch path's table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from affectkit.expressions import EXPRESSIONS
from generated import write_face_video

TRAINING_MODULES = ("torch", "torchvision", "timm", "lightning", "torchmetrics", "facenet_pytorch")

PROBE = """
import json, sys
{body}
loaded = sorted({{m.split('.')[0] for m in sys.modules}} & set({mods!r}))
print(json.dumps({{"loaded": loaded, "result": result}}))
"""


def _run(body: str, tmp_path: Path) -> dict:
    """Run ``body`` (which sets ``result``) in a fresh interpreter; its result and the training modules it loaded."""
    code = PROBE.format(body=body, mods=TRAINING_MODULES)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_analyze_cli_on_a_video_imports_no_torch(tmp_path):
    video = write_face_video(tmp_path / "faces.mp4", n_frames=12, fps=10)
    table = tmp_path / "t.csv"
    body = (f"from affectkit.cli import main\nsys.argv = ['affectkit', 'analyze', {str(video)!r}, '-o', {str(table)!r}, "
            f"'-q', '--threads', '1']\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            f"import pandas as pd\ndf = pd.read_csv({str(table)!r})\n"
            f"result = [int(len(df)), int(df['face'].notna().sum())]")
    got = _run(body, tmp_path)
    assert got["loaded"] == []
    rows, faces = got["result"]
    assert rows >= 12 and faces >= 6  # the drawn face is found in most frames


def test_analyze_audio_and_recognizer_import_no_torch(shared, tmp_path):
    from affectkit.testing.av_clip import make_av_clip, select_emodb

    clip = tmp_path / "speech.mp4"
    make_av_clip(shared / "media" / "single_face.mp4", select_emodb(shared / "data" / "emodb" / "wav")[:2], clip)
    body = (f"import affectkit\ndf = affectkit.analyze({str(clip)!r}, every=5, audio='default', threads=1)\n"
            "rec = affectkit.Recognizer(threads=1)\n"
            "import numpy as np\np = rec.predict_proba(np.full((2, 48, 48), 128, np.uint8))\n"
            "result = [int(df['voice_expression'].notna().sum()), int(df['face'].notna().sum()), "
            "float(p.sum(1).min()), type(rec).__name__]")
    got = _run(body, tmp_path)
    assert got["loaded"] == []
    voiced, faces, psum, kind = got["result"]
    assert voiced > 0 and faces > 0  # speech was found and scored, and faces too
    assert abs(psum - 1) < 1e-5 and kind == "OnnxRecognizer"


def test_onnx_table_matches_the_torch_table(media):
    """The default analysis (ONNX Runtime recognizer and MTCNN) gives the torch path's table.

    With the same faces, the recognizers agree to 1e-5 on every probability. The two
    MTCNNs agree to ~1e-4 px on boxes and landmarks (float32 rounding); OpenCV's affine
    warp quantises sub-pixel positions (1/32 px), so such a shift can move a crop's pixels
    and its probabilities by up to ~1e-3, never the expression. Both MTCNNs truncate
    candidate boxes to whole pixels before the R- and O-net crops, so a coordinate that
    float32 rounding puts at 428.99997 in one and 429.0 in the other (traced on
    multi_face.jpg with onnxruntime 1.32) shifts that crop by a pixel, and the refined box
    by up to ~1.5 px: a face may differ that much, the rest of the table may not.
    """
    pytest.importorskip("torch")
    pytest.importorskip("facenet_pytorch")
    import pandas as pd

    from affectkit.faces.detect import MTCNNDetector
    from affectkit.models.recognizer import Recognizer
    from affectkit.pipeline import Analyzer

    files = [media / "single_face.mp4", media / "multi_face.jpg"]

    def table(recognizer=None, detector=None):
        a = Analyzer(every=6, threads=1, detect_every=1)  # the detectors compared on every frame
        assert type(a.recognizer).__name__ == "OnnxRecognizer" and type(a.detector).__name__ == "OnnxMTCNN"
        a.recognizer = recognizer or a.recognizer
        a.detector = detector or a.detector
        return pd.concat(list(a.iter_tables(files)), ignore_index=True)

    def diff(x, y, cols):
        return np.nanmax(np.abs(x[cols].to_numpy(float) - y[cols].to_numpy(float)))

    onnx, torch_rec, torch_both = table(), table(recognizer=Recognizer("default")), table(
        recognizer=Recognizer("default"), detector=MTCNNDetector(min_face_size=40))
    assert len(onnx) == len(torch_rec) == len(torch_both) and onnx["face"].notna().sum() >= 10
    cols = list(EXPRESSIONS)
    assert diff(onnx, torch_rec, cols) <= 1e-5
    assert diff(onnx, torch_rec, ["valence", "arousal"]) <= 1e-5
    lm = [c for c in onnx.columns if c.startswith("landmark_")]
    geometry = ["x", "y", "width", "height"] + lm
    per_face = np.nanmax(np.abs(onnx[geometry].to_numpy(float) - torch_both[geometry].to_numpy(float)), axis=1)
    faces = onnx["face"].notna().to_numpy()
    same = faces & (per_face < 1e-3)
    assert same.sum() >= faces.sum() - 1  # at most one face across a truncation boundary
    assert np.nanmax(per_face) < 2.0
    assert diff(onnx[same], torch_both[same], cols) < 2e-3
    assert (onnx["expression"].fillna("") == torch_both["expression"].fillna("")).all()


def test_a_safetensors_model_without_its_export_needs_torch(untrained_model, tmp_path, monkeypatch):
    """Without torch, a .safetensors model with no .onnx beside it is one line naming `affectkit export`."""
    import affectkit.errors as errors
    from affectkit.errors import WeightsError
    from affectkit.models.onnx_face import load_recognizer

    assert not untrained_model.with_suffix(".onnx").exists()
    assert type(load_recognizer(untrained_model)).__name__ == "Recognizer"  # torch fallback where torch is
    monkeypatch.setattr(errors, "has_module", lambda name: name != "torch")
    with pytest.raises(WeightsError, match="affectkit export") as exc:
        load_recognizer(untrained_model)
    assert "\n" not in str(exc.value) and "affectkit[train]" in str(exc.value)


def test_require_names_the_extra():
    from affectkit.errors import MissingExtraError, require

    assert require("json", "train") is json
    with pytest.raises(MissingExtraError, match=r"pip install 'affectkit\[gui\]'") as exc:
        require("no_such_module_xyz", "gui", "--show")
    assert isinstance(exc.value, ImportError) and str(exc.value).startswith("--show needs no_such_module_xyz")


def test_numpy_vad_matches_the_torch_network(shared):
    """The numpy Silero VAD that inference uses equals the torch module to float32 rounding."""
    torch = pytest.importorskip("torch")
    from affectkit.audio import vad
    from affectkit.audio.io import load_audio
    from affectkit.audio.vad_torch import SileroVADNet

    wave = np.concatenate([load_audio(f, 16000) for f in sorted((shared / "data" / "emodb" / "wav").glob("*.wav"))[:2]])
    net = SileroVADNet()
    state = {k.replace("lstm_cell.", "lstm.").replace("_ih", "_ih_l0").replace("_hh", "_hh_l0"): v
             for k, v in __import__("safetensors.torch", fromlist=["load_file"]).load_file(
                 str(vad.silero_weights_path())).items()}
    net.load_state_dict(state)
    n = -(-len(wave) // vad.CHUNK)
    x = torch.zeros(vad.CONTEXT + n * vad.CHUNK)
    x[vad.CONTEXT: vad.CONTEXT + len(wave)] = torch.from_numpy(wave.astype(np.float32))
    with torch.no_grad():
        ref = net(x.unfold(0, vad.CONTEXT + vad.CHUNK, vad.CHUNK))[0].numpy()
    ours = vad.speech_probability(wave)
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-4
    assert (ref >= vad.SPEECH_THRESHOLD).mean() > 0.3  # speech is found: the comparison is not of zeros


def test_detect_every_follows_faces_with_the_onet_and_detects_again_when_one_is_lost(tmp_path):
    from affectkit.errors import OptionError
    from affectkit.pipeline import Analyzer

    # the face is gone in frame 7 and back from frame 8
    video = write_face_video(tmp_path / "v.mp4", n_frames=20, fps=10, absent=(7,))
    full = Analyzer(threads=1, batch_frames=8, detect_every=1, track=False)
    sparse = Analyzer(threads=1, detect_every=3, batch_frames=8, track=False)
    from affectkit.io.media import iter_frames

    images = [f.image for f in iter_frames(video, 1)]
    detected = []  # the frames the detector ran on
    real = sparse.detector.detect_batch
    sparse.detector.detect_batch = lambda frames: detected.extend(
        next(i for i, im in enumerate(images) if np.array_equal(im, f)) for f in frames) or real(frames)
    a = full.run_source(video)
    b = sparse.run_source(video)
    assert len(a) == len(b) == 20
    # at most 3 frames apart, and at once where the followed face is lost (7); with no face
    # held, the face that comes back in frame 8 is found at the next scheduled detection (10).
    # (The O-net is less sure of this drawn face than of real ones: a followed face scoring
    # below min_score also counts as lost and is detected again.)
    assert detected[:4] == [0, 3, 6, 7] and 10 in detected and not {8, 9} & set(detected)
    assert all(b - a <= 3 for a, b in zip(detected, detected[1:])) and detected[-1] >= 17
    assert sparse.detections == len(detected) < 16
    assert [r.get("face") is not None for r in b] == [i not in (7, 8, 9) for i in range(20)]
    assert [r.get("face") is not None for r in a] == [i != 7 for i in range(20)]
    boxes_a = np.array([[r.get(c, np.nan) for c in ("x", "y", "width", "height")] for r in a], float)
    boxes_b = np.array([[r.get(c, np.nan) for c in ("x", "y", "width", "height")] for r in b], float)
    followed = [i for i in range(20) if i not in detected and i not in (7, 8, 9)]
    assert len(followed) >= 5
    for i in followed:  # the O-net's own box, score and landmarks: close to a fresh detection's
        assert not np.allclose(boxes_b[i], boxes_b[i - 1])
        assert box_iou(boxes_a[i], boxes_b[i]) > 0.85, i
        assert b[i]["face_score"] != b[i - 1]["face_score"] and b[i]["face_score"] >= 0.9
        assert np.isfinite(b[i]["landmark_left_eye_x"])
    with pytest.raises(OptionError, match="detect_every"):
        Analyzer(detect_every=0)
    with pytest.raises(OptionError, match="threads"):
        Analyzer(threads=-1)


def box_iou(a, b) -> float:
    """IoU of two ``x, y, width, height`` boxes."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return w * h / (a[2] * a[3] + b[2] * b[3] - w * h)


@pytest.mark.parametrize("fps, expected", [(30, [0, 3, 6, 9]), (10, list(range(12)))])
def test_by_default_faces_are_detected_every_tenth_of_a_second_of_video(tmp_path, fps, expected):
    from affectkit.io.media import iter_frames
    from affectkit.pipeline import DETECT_INTERVAL_S, Analyzer

    assert DETECT_INTERVAL_S == 0.1
    video = write_face_video(tmp_path / "v.mp4", n_frames=12, fps=fps)
    images = [f.image for f in iter_frames(video, 1)]
    a = Analyzer(threads=1, track=False)
    assert a.detect_every is None
    a.detector.min_score = 0.5  # the O-net is less sure of the drawn face than of real ones: keep it followed
    detected = []
    real = a.detector.detect_batch
    a.detector.detect_batch = lambda frames: detected.extend(
        next(i for i, im in enumerate(images) if np.array_equal(im, f)) for f in frames) or real(frames)
    rows = a.run_source(video)
    assert detected == expected and all(r.get("face") is not None for r in rows)


@pytest.mark.parametrize("name", ["mtcnn", "haar"])
def test_follow_moves_with_the_face_and_drops_a_face_that_is_gone(media, name):
    from affectkit.faces.detect import create_detector
    from affectkit.io.media import read_image

    image = read_image(media / "single_face.jpg")
    det = create_detector(name, threads=1)
    (faces,) = det.detect_batch([image])
    face = max(faces, key=lambda f: f.box[2])
    moved = np.roll(image, (9, -12), axis=(0, 1))  # the face 12 px left and 9 px down
    (again,) = det.follow(moved, [face])
    fresh = max(det.detect_batch([moved])[0], key=lambda f: f.box[2])
    # it moved with the face: closer to a detection in the moved image than the old box is
    assert box_iou(again.box, fresh.box) > max(0.85, box_iou(face.box, fresh.box))
    if name == "mtcnn":  # fresh landmarks, where a detection in the moved image puts them
        assert np.abs(again.landmarks - fresh.landmarks).max() < 0.06 * fresh.box[2]
    else:  # eyes are carried with the box: 12 px left and 9 px down, as the face went
        from affectkit.faces.types import Face

        x, y, w, h = face.box
        lm = np.full((5, 2), np.nan, dtype=np.float32)
        lm[:2] = [[x + 0.3 * w, y + 0.4 * h], [x + 0.7 * w, y + 0.4 * h]]  # (the eye cascade misses them here)
        (again,) = det.follow(moved, [Face(face.box, face.score, lm)])
        assert np.abs(again.landmarks[:2] - (lm[:2] + [-12, 9])).max() < 0.06 * fresh.box[2]
        assert np.isnan(again.landmarks[2:]).all()
    blank = np.full_like(image, 120)
    assert det.follow(blank, [face]) == []
    assert det.follow(image, []) == []


def test_carried_landmarks_keep_their_place_in_the_box():
    from affectkit.faces.detect import carried_landmarks
    from affectkit.faces.types import Face

    lm = np.full((5, 2), np.nan, dtype=np.float32)
    lm[:2] = [[30, 40], [70, 40]]  # eyes at 20 % and 60 % across a 100 px box at (10, 20)
    moved = carried_landmarks(Face(np.array([10, 20, 100, 100], np.float32), 1.0, lm),
                              np.array([50, 0, 200, 150], np.float32))
    assert moved.dtype == np.float32 and moved.shape == (5, 2)
    np.testing.assert_allclose(moved[:2], [[90, 30], [170, 30]])
    assert np.isnan(moved[2:]).all()


def test_haar_detects_on_a_shrunk_frame_and_maps_boxes_back(media):
    from affectkit.faces.detect import CASCADE_WINDOW, HaarDetector
    from affectkit.io.media import read_image

    image = read_image(media / "single_face.jpg")
    for size in (40, 80):
        det = HaarDetector(min_face_size=size)
        assert det.scale == pytest.approx(min(1.0, CASCADE_WINDOW / size))
        (faces,) = det.detect_batch([image])
        assert faces, size
        big = max(faces, key=lambda f: f.box[2])
        x, y, w, h = big.box
        # in frame pixels: inside the frame, and about as large as the face (MTCNN: ~190 px wide here)
        assert 0 <= x and x + w <= image.shape[1] and y + h <= image.shape[0] and 120 < w < 400
