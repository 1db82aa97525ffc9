"""ONNX export (``affectkit export``) and the torch-free ONNX Runtime face model and MTCNN.

The export checks itself (torch vs ONNX Runtime on real inputs); these tests check the
files it wrote, that :class:`OnnxRecognizer` gives the torch Recognizer's outputs,
that :class:`OnnxMTCNN` finds facenet-pytorch's boxes and landmarks, that neither
imports torch, and that bad input is one line.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.errors import WeightsError
from affectkit.models.preprocess import bundled_path, tta_views
from generated import draw_face

runner = CliRunner()
TOL = 1e-4
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread(single_thread):
    """One torch thread (the machine is shared); ONNX Runtime gets threads=1 below."""


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two ``(x, y, w, h)`` boxes."""
    x1, y1 = max(a[0], b[0]), max(a[1], b[1])
    x2, y2 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def _faces(shared_root: Path | None) -> list[np.ndarray]:
    """Real FER-2013 faces and posed photos when the shared folder is there, else drawn faces."""
    from affectkit.io.media import read_image

    if shared_root is not None:
        files = sorted((shared_root / "data" / "fer2013" / "test").glob("*/*.jpg"))[::600][:6]
        files += sorted((shared_root / "media").glob("*-ph.jpg"))
        if files:
            return [read_image(f) for f in files]
    return [draw_face(size=(160, 200), centre=(80, 100), smile=s) for s in (True, False)]


def _shared_or_none() -> Path | None:
    from affectkit.paths import shared_dir

    return shared_dir() if (shared_dir() / "media").is_dir() else None


# ----------------------------------------------------------------------------- face model


@pytest.fixture(scope="module")
def exported_default(tmp_path_factory):
    from affectkit.models.export import export_onnx

    out = tmp_path_factory.mktemp("onnx")
    return export_onnx("default", out, threads=1)


def test_export_default_round_trip(exported_default):
    import onnx

    r = exported_default
    assert [p.name for p in r.files] == ["default.onnx", "default.json"]
    assert 0 <= r.worst <= TOL, r.max_abs_diff
    print(f"default: max |torch - onnxruntime| {r.max_abs_diff} on {r.check_inputs}")
    card = json.loads(r.card.read_text())
    sec = card["onnx"]
    assert sec["opset"] >= 17 and sec["file"] == "default.onnx"
    assert sec["input_names"] == ["faces"] and sec["output_names"] == ["logits", "va", "probabilities"]
    assert max(sec["check"]["max_abs_diff"].values()) <= TOL
    assert sec["source"]["sha256"] == hashlib.sha256(bundled_path("default").read_bytes()).hexdigest()
    # The rest of the card is the torch model's card, unchanged.
    torch_card = json.loads(bundled_path("default", ".json").read_text())
    assert {k: v for k, v in card.items() if k != "onnx"} == {k: v for k, v in torch_card.items() if k != "onnx"}
    model = onnx.load(str(r.files[0]))
    assert model.opset_import[0].version >= 17
    dim = model.graph.input[0].type.tensor_type.shape.dim
    assert dim[0].dim_param == "batch" and [d.dim_value for d in dim[1:]] == [1, 48, 48]


@pytest.mark.parametrize("tta", ["none", "flip", "multi"])
def test_onnx_recognizer_matches_torch_recognizer(exported_default, tta):
    from affectkit.models.onnx_face import OnnxRecognizer
    from affectkit.models.recognizer import Recognizer

    faces = _faces(_shared_or_none())
    onnx_rec = OnnxRecognizer(exported_default.files[0], tta=tta, threads=1, batch_size=5)
    p, va = onnx_rec.predict_arrays(faces)
    p_t, va_t = Recognizer(tta=tta).predict_arrays(faces)
    assert p.shape == (len(faces), 7) and va.shape == (len(faces), 2) and p.dtype == np.float32
    assert np.abs(p - p_t).max() <= TOL and np.abs(va - va_t).max() <= TOL
    df = onnx_rec.predict(faces[:2])
    assert list(df["expression"]) == list(Recognizer(tta=tta).predict(faces[:2])["expression"])


def test_bundled_onnx_is_the_bundled_model():
    """The committed default.onnx was exported from the committed default.safetensors."""
    from affectkit.models.onnx_face import OnnxRecognizer
    from affectkit.models.recognizer import Recognizer

    rec = OnnxRecognizer("default", threads=1)
    assert rec.card["onnx"]["source"]["sha256"] == hashlib.sha256(bundled_path("default").read_bytes()).hexdigest()
    faces = [draw_face(size=(160, 200), centre=(80, 100), smile=s) for s in (True, False)]
    assert np.abs(rec.predict_proba(faces) - Recognizer().predict_proba(faces)).max() <= TOL


def test_numpy_tta_views_are_the_torch_views():
    import torch

    from affectkit.models.recognizer import torch_tta_views

    x = np.random.default_rng(0).random((3, 1, 48, 48)).astype(np.float32)
    for mode in ("none", "flip", "multi"):
        ref, got = torch_tta_views(torch.from_numpy(x), mode), tta_views(x, mode)
        assert len(ref) == len(got)
        assert max(np.abs(r.numpy() - g).max() for r, g in zip(ref, got)) < 1e-5


def test_trained_model_exports_through_the_cli(untrained_model, tmp_path):
    """Any face model (here a small untrained one) exports, checked on the given images."""
    from PIL import Image

    from affectkit.models.onnx_face import OnnxRecognizer
    from affectkit.models.recognizer import Recognizer

    crops = tmp_path / "crops"
    crops.mkdir()
    faces = [draw_face(size=(120, 150), centre=(60, 75), scale=0.8, smile=s) for s in (True, False)]
    for i, f in enumerate(faces):
        Image.fromarray(f).save(crops / f"{i}.png")
    r = runner.invoke(app, ["export", str(untrained_model), "-o", str(tmp_path / "out"), "--check-inputs", str(crops)])
    assert r.exit_code == 0, r.output
    assert "untrained.onnx" in r.output and "agree to" in r.output
    card = json.loads((tmp_path / "out" / "untrained.json").read_text())
    assert card["onnx"]["check"]["inputs"].startswith("2 images from")
    got = OnnxRecognizer(tmp_path / "out" / "untrained.onnx", threads=1).predict_arrays(faces)
    ref = Recognizer(untrained_model).predict_arrays(faces)
    assert all(np.abs(g - r).max() <= TOL for g, r in zip(got, ref))


def test_voice_model_export_round_trip(tmp_path):
    """The bundled voice MLP: standardisation, MLP and softmax in one graph, as predict_proba."""
    from affectkit.audio.models import load_audio_model
    from affectkit.audio.onnx_export import export_voice_onnx
    from affectkit.onnxrt import session

    weights = bundled_path("default").parent / "voice_emodb.safetensors"
    model, card = load_audio_model(weights)
    mean, std = (np.asarray(card["standardisation"][k]) for k in ("mean", "std"))
    x = (mean + std * np.random.default_rng(1).standard_normal((20, len(mean)))).astype(np.float32)
    r = export_voice_onnx(weights, tmp_path, features=x, threads=1)
    assert r.worst <= TOL and [p.name for p in r.files] == ["voice_emodb.onnx", "voice_emodb.json"]
    sec = json.loads(r.card.read_text())["onnx"]
    assert sec["opset"] >= 17 and sec["input_names"] == ["features"]
    p = session(r.files[0], threads=1).run(["probabilities"], {"features": x})[0]
    assert np.abs(p - model.predict_proba(x)).max() <= TOL


# ----------------------------------------------------------------------------- MTCNN


def _compare_detections(frames: list[np.ndarray]) -> tuple[float, float, int]:
    """Worst IoU, worst landmark distance (pixels) and number of faces, OnnxMTCNN against
    facenet-pytorch's MTCNN (affectkit's settings); both must find the same number of faces."""
    from affectkit.faces.detect import MTCNNDetector
    from affectkit.faces.mtcnn_onnx import OnnxMTCNN

    ref = MTCNNDetector().detect_batch(frames)
    got = OnnxMTCNN(threads=1).detect_batch(frames)
    worst_iou, worst_lm, n = 1.0, 0.0, 0
    for r_faces, g_faces in zip(ref, got):
        assert len(r_faces) == len(g_faces)
        for r, g in zip(r_faces, g_faces):
            worst_iou = min(worst_iou, _iou(r.box, g.box))
            worst_lm = max(worst_lm, float(np.linalg.norm(r.landmarks - g.landmarks, axis=1).max()))
            assert abs(r.score - g.score) < 1e-3
            n += 1
    return worst_iou, worst_lm, n


def test_mtcnn_onnx_matches_facenet_on_shared_media(media):
    from affectkit.io.media import iter_frames, read_image

    photos = [read_image(media / n) for n in ("single_face.jpg", "multi_face.jpg", "0-f1-su-ph.jpg",
                                              "45-m7-di-ph.jpg", "free-mountain-vector-01.jpg")]
    frames = [f.image for f in iter_frames(media / "single_face.mp4", every=12)]
    worst = [_compare_detections([p]) for p in photos] + [_compare_detections(frames)]
    iou, lm, n = min(w[0] for w in worst), max(w[1] for w in worst), sum(w[2] for w in worst)
    print(f"MTCNN on shared media: {n} faces, worst IoU {iou:.6f}, worst landmark distance {lm:.2g} px")
    assert n >= 14 and iou >= 0.95 and lm <= 2.0


def test_mtcnn_onnx_matches_facenet_on_a_drawn_face():
    """Without shared data: a drawn face, and a batch of two frames."""
    frames = [draw_face(), draw_face(centre=(150, 110), scale=1.2)]
    for batch in (frames, frames[:1]):
        iou, lm, n = _compare_detections(batch)
        assert n == len(batch) and iou >= 0.95 and lm <= 2.0


def test_mtcnn_onnx_skips_frames_too_small():
    from affectkit.faces.mtcnn_onnx import OnnxMTCNN

    det = OnnxMTCNN(threads=1)
    assert det.detect_batch([]) == []
    out = det.detect_batch([np.zeros((30, 200, 3), np.uint8), draw_face()])
    assert out[0] == [] and len(out[1]) == 1


def test_mtcnn_export_round_trip(tmp_path):
    from affectkit.models.export import export_mtcnn_onnx

    r = export_mtcnn_onnx(tmp_path, threads=1)
    assert [p.name for p in r.files] == ["pnet.onnx", "rnet.onnx", "onet.onnx", "mtcnn.json"]
    assert r.worst <= TOL and len(r.max_abs_diff) == 7, r.max_abs_diff
    print(f"MTCNN: max |torch - onnxruntime| {r.max_abs_diff} on {r.check_inputs}")
    card = json.loads(r.card.read_text())
    assert card["onnx"]["opset"] >= 17 and set(card["onnx"]["networks"]) == {"pnet", "rnet", "onet"}
    # The bundled copy holds no third-party weights: its graphs are a fresh export's, and the
    # weights are read from the facenet-pytorch wheel by the card's map, tensor for tensor.
    import onnx

    from affectkit.faces.mtcnn_weights import mtcnn_weight_file, read_legacy_state_dict

    bundled = bundled_path("default").parent / "mtcnn"
    assert sum(p.stat().st_size for p in bundled.glob("*.onnx")) < 20_000
    bundled_card = json.loads((bundled / "mtcnn.json").read_text())
    assert bundled_card["onnx"]["networks"].keys() == card["onnx"]["networks"].keys()
    for name in ("pnet", "rnet", "onet"):
        ours, fresh = (onnx.load(d / f"{name}.onnx", load_external_data=False).graph for d in (bundled, tmp_path))
        assert [n.op_type for n in ours.node] == [n.op_type for n in fresh.node], name
        external = [t.name for t in ours.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
        weights = bundled_card["onnx"]["networks"][name]["weights"]
        assert weights == card["onnx"]["networks"][name]["weights"] and sorted(external) == sorted(weights["initializers"])
        state = read_legacy_state_dict(mtcnn_weight_file(name))
        assert {e["key"] for e in weights["initializers"].values()} == set(state), name


# ----------------------------------------------------------------------------- no torch


def test_onnx_modules_never_import_torch(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        import numpy as np
        from affectkit.models.onnx_face import OnnxRecognizer
        from affectkit.faces.mtcnn_onnx import OnnxMTCNN
        from generated import draw_face
        assert "torch" not in sys.modules, "import"
        img = draw_face()
        faces = OnnxMTCNN(threads=1).detect_batch([img])[0]
        assert len(faces) == 1
        x, y, w, h = faces[0].box.astype(int)
        df = OnnxRecognizer("default", threads=1, tta="multi").predict([img[y:y + h, x:x + w]])
        assert len(df) == 1 and abs(df.iloc[0, :7].sum() - 1) < 1e-4
        assert "torch" not in sys.modules, "run"
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


# ----------------------------------------------------------------------------- bad input


def _one_line_error(args: list[str]) -> str:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    lines = r.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output, r.output
    return lines[0]


def test_export_errors_are_one_line(tmp_path):
    assert "no such model file" in _one_line_error(["export", "nosuch", "-o", str(tmp_path)])
    assert "model file not found" in _one_line_error(["export", str(tmp_path / "m.safetensors"), "-o", str(tmp_path)])
    (tmp_path / "clip.safetensors").write_bytes(b"x")
    (tmp_path / "clip.json").write_text(json.dumps({"card_version": 1, "kind": "temporal"}))
    assert "is a temporal model" in _one_line_error(["export", str(tmp_path / "clip.safetensors"), "-o", str(tmp_path)])
    (tmp_path / "file").write_text("x")
    assert "is a file" in _one_line_error(["export", "default", "-o", str(tmp_path / "file")])
    assert "cannot create the output folder" in _one_line_error(["export", "mtcnn", "-o", str(tmp_path / "file" / "sub")])
    (tmp_path / "junk.safetensors").write_bytes(b"not a model")
    (tmp_path / "junk.json").write_text("{")
    assert "not valid JSON" in _one_line_error(["export", str(tmp_path / "junk.safetensors"), "-o", str(tmp_path)])
    assert not list(tmp_path.glob("*.onnx"))


def test_onnx_model_errors_are_one_line(tmp_path, untrained_model):
    from affectkit.faces.mtcnn_onnx import OnnxMTCNN
    from affectkit.models.onnx_face import OnnxRecognizer

    cases = []
    with pytest.raises(WeightsError) as e:
        OnnxRecognizer(untrained_model)  # a torch model without its ONNX export
    cases.append((e, "has no ONNX export beside it"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"garbage")
    bad.with_suffix(".json").write_text(bundled_path("default", ".json").read_text())
    with pytest.raises(WeightsError) as e:
        OnnxRecognizer(bad)
    cases.append((e, "not a valid ONNX face model"))
    nocard = tmp_path / "nocard.onnx"
    nocard.write_bytes(b"x")
    with pytest.raises(WeightsError) as e:
        OnnxRecognizer(nocard)
    cases.append((e, "model card not found"))
    with pytest.raises(WeightsError) as e:
        OnnxRecognizer("nosuch")
    cases.append((e, "not a bundled model"))
    with pytest.raises(WeightsError) as e:
        OnnxMTCNN(model_dir=tmp_path / "none")
    cases.append((e, "MTCNN ONNX folder not found"))
    for e, text in cases:
        assert text in str(e.value) and "\n" not in str(e.value), str(e.value)
