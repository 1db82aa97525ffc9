"""Export affectkit's networks to ONNX, each export checked against torch on real inputs.

``affectkit export MODEL -o DIR`` (:func:`export_onnx`) writes:

* for a **face model** (the bundled ``default`` or any ``.safetensors`` of kind
  ``face``): ``DIR/NAME.onnx`` and ``DIR/NAME.json``, the model card extended with an
  ``onnx`` section (file, opset, input/output names and shapes, the source weights'
  SHA-256, exporter versions, and the measured torch/ONNX Runtime difference). The graph
  is the whole :class:`~affectkit.models.network.EmotionNet` (resize to the network
  size, ImageNet normalisation, backbone, heads) plus a softmax: input ``faces``
  ``(batch, 1, S, S)`` grey in ``[0, 1]`` as
  :func:`~affectkit.models.preprocess.face_input` makes it; outputs ``logits``
  ``(batch, 7)``, ``va`` ``(batch, 2)`` and ``probabilities`` ``(batch, 7)``.
* for ``mtcnn``: MTCNN's three networks (Zhang et al. 2016, "Joint Face Detection and
  Alignment using Multi-task Cascaded Convolutional Networks", IEEE SPL 23(10);
  facenet-pytorch's port and weights, MIT): ``pnet.onnx`` (any height and width),
  ``rnet.onnx`` (24 x 24), ``onet.onnx`` (48 x 48) and ``mtcnn.json``.
  :class:`~affectkit.faces.mtcnn_onnx.OnnxMTCNN` runs them.

Every graph has opset :data:`OPSET` (17 or more) and a dynamic batch axis. The export
runs the torch network and the written ONNX file (ONNX Runtime, CPU) on the same real
inputs (FER-2013 faces and photos from the shared data folder, or images given with
``check_images``), at the full batch and at batch 1, and fails unless every output
agrees to :data:`TOLERANCE` (max absolute difference); the difference is returned and
stored in the card. All files of one export are written to temporary files and renamed
into place together (:class:`~affectkit.io.write.StagedOutputs`), only when the check
passed.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from affectkit.errors import InputError, WeightsError, printable
from affectkit.expressions import EXPRESSIONS
from affectkit.faces.mtcnn_weights import INSTALL as MTCNN_INSTALL
from affectkit.faces.mtcnn_weights import mtcnn_initializers
from affectkit.io.media import expand_inputs, media_kind, read_image
from affectkit.io.write import StagedOutputs, check_output_path
from affectkit.models.card import load_model, peek_kind
from affectkit.models.preprocess import BUNDLED, bundled_path, face_input
from affectkit.onnxrt import session
from affectkit.paths import shared_dir

OPSET = 17
"""The ONNX opset written (ONNX Runtime 1.14 and later run it)."""

TOLERANCE = 1e-4
"""Largest absolute difference allowed between torch and ONNX Runtime outputs."""

FACE_INPUTS = ("faces",)
FACE_OUTPUTS = ("logits", "va", "probabilities")

MTCNN_NETS = ("pnet", "rnet", "onet")
MTCNN_IO = {
    "pnet": (("image",), ("reg", "prob")),
    "rnet": (("image",), ("reg", "prob")),
    "onet": (("image",), ("reg", "landmarks", "prob")),
}
"""Input and output names of MTCNN's networks (facenet-pytorch's output order)."""

MTCNN_DEFAULTS = {"min_face_size": 40, "thresholds": [0.6, 0.7, 0.7], "factor": 0.709, "min_score": 0.9}
"""affectkit's MTCNN settings (:class:`~affectkit.faces.detect.MTCNNDetector`), recorded in the card."""

MAX_CHECK_FACES = 32
"""Most images read for a face model's check (each is also checked mirrored)."""


@dataclass
class ExportResult:
    """What one export wrote and how closely ONNX Runtime agreed with torch.

    Attributes
    ----------
    files : list of Path
        The written files (ONNX graphs, then the card).
    card : Path
        The model card.
    max_abs_diff : dict
        ``"net/output"`` (face models: ``output``) -> largest absolute difference
        between torch and ONNX Runtime over the check inputs.
    check_inputs : str
        What the check ran on.
    """

    files: list[Path]
    card: Path
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    check_inputs: str = ""

    @property
    def worst(self) -> float:
        """The largest difference over all outputs."""
        return max(self.max_abs_diff.values(), default=0.0)


class _FaceGraph(nn.Module):
    """An EmotionNet with tuple outputs ``(logits, va, probabilities)`` for tracing."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, faces: torch.Tensor):
        out = self.net(faces)
        return out["logits"], out["va"], torch.softmax(out["logits"], dim=1)


def _versions(*extra: str) -> dict[str, str]:
    out = {"torch": torch.__version__}
    for pkg in ("onnx", "onnxruntime", *extra):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _image_files(images: Sequence[str | Path]) -> list[Path]:
    files = [p for p in expand_inputs(list(images)) if media_kind(p) == "image"]
    if not files:
        raise InputError(images[0] if images else "<none>", "no images to check the export on")
    return files


def check_faces(face_size: int, channels: str = "grey",
                images: Sequence[str | Path] | None = None) -> tuple[np.ndarray, str]:
    """Real face crops to check a face model's export on, as the model's input.

    Parameters
    ----------
    face_size : int
        The card's ``input.face_size``, pixels.
    channels : {"grey", "rgb"}
        The card's ``input.channels``.
    images : sequence of str or Path, optional
        Face crops (files or folders). By default, the first 4 faces (by name) of each
        class of FER-2013's PrivateTest in the shared data folder
        (:func:`~affectkit.paths.shared_dir`); without it, 16 seeded synthetic images
        (smooth noise), and the returned description says so.

    Returns
    -------
    x : np.ndarray
        ``(2 N, C, S, S)`` ``float32`` in ``[0, 1]``: the N faces, then their mirror images.
    description : str
        Where the faces came from.

    Raises
    ------
    InputError
        If ``images`` holds no readable image.
    """
    if images:
        files = _image_files(images)[:MAX_CHECK_FACES]
        crops, desc = [read_image(f) for f in files], f"{len(files)} images from {', '.join(map(str, images))}"
    else:
        root = shared_dir() / "data" / "fer2013" / "test"
        files = [f for d in sorted(root.glob("*")) if d.is_dir() for f in sorted(d.glob("*.jpg"))[:4]]
        if files:
            crops, desc = [read_image(f) for f in files], f"{len(files)} FER-2013 PrivateTest faces (4 per class)"
        else:
            import cv2

            rng = np.random.default_rng(0)
            crops = [cv2.GaussianBlur(rng.integers(0, 256, (96, 96), dtype=np.uint8), (0, 0), 3) for _ in range(16)]
            desc = "16 synthetic images (smooth noise; the shared FER-2013 folder is absent)"
    x = face_input(crops, face_size, channels)
    return np.concatenate([x, x[..., ::-1]]), desc + ", and their mirror images"


def _export_graph(module: nn.Module, example: torch.Tensor, path: Path, inputs: Sequence[str],
                  outputs: Sequence[str], dynamic: dict[str, dict[int, str]], opset: int,
                  props: dict[str, str]) -> None:
    """Trace ``module`` to ONNX at ``path`` (legacy TorchScript exporter), checked by onnx."""
    import onnx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation and tracer warnings
        torch.onnx.export(module, (example,), str(path), dynamo=False, opset_version=opset,
                          input_names=list(inputs), output_names=list(outputs), dynamic_axes=dynamic,
                          do_constant_folding=True, external_data=False)
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def _strip_weights(path: Path, state: dict[str, np.ndarray], file: str) -> dict:
    """Move the initializers of the graph at ``path`` that are tensors of ``state`` out of it.

    They become ONNX external data, which :func:`affectkit.onnxrt.session` fills from
    ``state``'s file at load time (a third party's weights are not copied into affectkit).
    Constants the exporter made (shapes and the like) stay in the graph.

    Returns
    -------
    dict
        ``{"file": file, "initializers": {name: {"key": state key, "shape": [...]}}}``, the
        card's ``weights`` entry for this graph.

    Raises
    ------
    WeightsError
        If an initializer matches more than one tensor of ``state`` and none by name.
    """
    import onnx
    from onnx import external_data_helper, numpy_helper

    model = onnx.load(str(path))
    inits = {}
    for t in model.graph.initializer:
        a = numpy_helper.to_array(t)
        hits = [k for k, v in state.items() if v.size == a.size and v.dtype == a.dtype
                and np.array_equal(v.reshape(a.shape), a)]
        if not hits:
            continue
        if t.name not in hits and len(hits) > 1:
            raise WeightsError(f"{printable(path)}: initializer {t.name} equals several weights ({', '.join(hits)})")
        inits[t.name] = {"key": t.name if t.name in hits else hits[0], "shape": list(a.shape)}
        external_data_helper.set_external_data(t, location=file, offset=0, length=a.nbytes)
        t.data_location = onnx.TensorProto.EXTERNAL
        for field_name in ("raw_data", "float_data", "double_data", "int32_data", "int64_data"):
            t.ClearField(field_name)
    missing = set(state) - {v["key"] for v in inits.values()}
    if missing:
        raise WeightsError(f"{printable(path)}: weights {', '.join(sorted(missing))} are not initializers of the graph")
    onnx.save(model, str(path))
    return {"file": file, "initializers": inits}


def _difference(module: nn.Module, sess, batches: Sequence[np.ndarray], outputs: Sequence[str],
                prefix: str = "") -> dict[str, float]:
    """Largest |torch - ONNX Runtime| per output over ``batches``."""
    diff = {prefix + name: 0.0 for name in outputs}
    in_name = sess.get_inputs()[0].name
    for x in batches:
        with torch.inference_mode():
            ref = module(torch.from_numpy(np.ascontiguousarray(x)))
        got = sess.run(list(outputs), {in_name: np.ascontiguousarray(x, dtype=np.float32)})
        for name, r, g in zip(outputs, ref, got):
            if r.shape != g.shape:
                raise WeightsError(f"ONNX output {name} has shape {g.shape}, torch {tuple(r.shape)}")
            d = float(np.abs(r.numpy().astype(np.float64) - g).max()) if r.numel() else 0.0
            diff[prefix + name] = max(diff[prefix + name], d)
    return diff


def _check_tolerance(diff: dict[str, float], tolerance: float, where: str) -> None:
    bad = {k: v for k, v in diff.items() if not v <= tolerance}  # NaN fails too
    if bad:
        k = max(bad, key=lambda k: bad[k] if np.isfinite(bad[k]) else np.inf)
        raise WeightsError(f"{where}: the ONNX export differs from torch by {bad[k]:.3g} on {k} "
                           f"(tolerance {tolerance:g}); nothing was written")


def output_paths(out_dir: Path, names: Sequence[str]) -> list[Path]:
    """The paths of ``names`` in ``out_dir``, checked writable (the folder is created if missing) before any work.

    Raises
    ------
    InputError
        Naming the folder or file: a file where the folder should be, a folder that
        cannot be created, or one that cannot be written in.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(out_dir, "is a file; give an output folder")
    if not out_dir.exists():
        try:
            out_dir.mkdir(parents=True)
        except OSError as exc:
            raise InputError(out_dir, f"cannot create the output folder ({exc.strerror or exc})") from None
    paths = [out_dir / n for n in names]
    for p in paths:
        check_output_path(p, (p.suffix,), "model file")
    return paths


def export_face_onnx(weights: str | Path, out_dir: str | Path, *, opset: int = OPSET,
                     check_images: Sequence[str | Path] | None = None, tolerance: float = TOLERANCE,
                     threads: int | None = 1) -> ExportResult:
    """Export a face model to ``out_dir/NAME.onnx`` with its extended card ``out_dir/NAME.json``.

    Parameters
    ----------
    weights : str or Path
        A face model's ``.safetensors`` file (its card beside it).
    out_dir : str or Path
        Output folder; created if missing. It may be the model's own folder: the card
        is then rewritten with the ``onnx`` section added.
    opset : int
        ONNX opset, at least 17.
    check_images : sequence of str or Path, optional
        Face crops to check on (see :func:`check_faces`).
    tolerance : float
        Largest max absolute difference allowed on any output.
    threads : int, optional
        ONNX Runtime intra-op threads for the check.

    Returns
    -------
    ExportResult

    Raises
    ------
    WeightsError
        If the model cannot be loaded or is not a face model, or ONNX Runtime and torch
        differ by more than ``tolerance`` (nothing is written then).
    InputError
        If ``out_dir`` is not a writable folder, or ``check_images`` holds no image.
    ValueError
        If ``opset`` is below 17.
    """
    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    weights = Path(weights)
    net, card = load_model(weights)
    name = weights.stem
    onnx_path, card_file = output_paths(Path(out_dir), [f"{name}.onnx", f"{name}.json"])
    size, channels = int(card["input"]["face_size"]), card["input"].get("channels", "grey")
    x, desc = check_faces(size, channels, check_images)
    c = x.shape[1]
    io = {
        "inputs": {"faces": {"shape": ["batch", c, size, size], "dtype": "float32", "range": [0.0, 1.0],
                             "preprocessing": "affectkit.models.preprocess.face_input (the card's input)"}},
        "outputs": {
            "logits": {"shape": ["batch", len(EXPRESSIONS)], "dtype": "float32", "classes": list(EXPRESSIONS)},
            "va": {"shape": ["batch", 2], "dtype": "float32", "range": [-1.0, 1.0], "columns": ["valence", "arousal"]},
            "probabilities": {"shape": ["batch", len(EXPRESSIONS)], "dtype": "float32", "note": "softmax of logits"},
        },
    }
    return export_checked(_FaceGraph(net).eval(), [x, x[:1]], weights, onnx_path, card_file, card,
                          inputs=FACE_INPUTS, outputs=FACE_OUTPUTS, io=io, check_inputs=desc, opset=opset,
                          tolerance=tolerance, threads=threads, props={"classes": ",".join(EXPRESSIONS)})


def export_checked(module: nn.Module, batches: Sequence[np.ndarray], source: Path, onnx_path: Path, card_file: Path,
                   card: dict, *, inputs: Sequence[str], outputs: Sequence[str], io: dict, check_inputs: str,
                   opset: int = OPSET, tolerance: float = TOLERANCE, threads: int | None = 1,
                   props: dict[str, str] | None = None) -> ExportResult:
    """Export a one-input module with a dynamic batch axis, check it, and write it with its card.

    The common part of every model export: trace ``module`` on ``batches[0]``, run
    torch and ONNX Runtime on every batch, fail unless they agree to ``tolerance``,
    then write ``onnx_path`` and ``card_file`` (``card`` plus an ``onnx`` section)
    together.

    Parameters
    ----------
    module : nn.Module
        In eval mode; ``forward(x)`` returns a tuple of tensors, one per name in ``outputs``.
    batches : sequence of np.ndarray
        ``float32`` inputs, batch first, of different batch sizes.
    source : Path
        The ``.safetensors`` file exported (its name and SHA-256 go in the card).
    onnx_path, card_file : Path
        Outputs (checked writable by the caller).
    card : dict
        The model's card; copied, not changed.
    inputs, outputs : sequence of str
        ONNX input (one) and output names.
    io : dict
        ``{"inputs": {...}, "outputs": {...}}`` shapes and meanings, for the card.
    check_inputs : str
        What ``batches`` are, for the card.
    opset, tolerance, threads
        As :func:`export_face_onnx`.
    props : dict, optional
        Extra ONNX metadata properties.

    Returns
    -------
    ExportResult

    Raises
    ------
    WeightsError
        If torch and ONNX Runtime differ by more than ``tolerance`` (nothing is written).
    """
    dynamic = {n: {0: "batch"} for n in (*inputs, *outputs)}
    with StagedOutputs([onnx_path, card_file]) as staged:
        tmp = staged.temp(onnx_path)
        _export_graph(module, torch.from_numpy(np.ascontiguousarray(batches[0][:2])), tmp, inputs, outputs, dynamic,
                      opset, {"affectkit_card": card_file.name, **(props or {})})
        sess = session(tmp, threads=threads)
        diff = _difference(module, sess, batches, outputs)
        _check_tolerance(diff, tolerance, printable(source))
        card = dict(card)
        card["onnx"] = {
            "file": onnx_path.name,
            "opset": opset,
            "input_names": list(inputs),
            "output_names": list(outputs),
            **io,
            "source": {"file": source.name, "sha256": _sha256(source)},
            "exporter": {"method": "torch.onnx.export (TorchScript, dynamo=False)", **_versions()},
            "check": {"inputs": check_inputs, "batch_sizes": [len(b) for b in batches], "tolerance": tolerance,
                      "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diff.items()}},
        }
        staged.temp(card_file).write_text(json.dumps(card, indent=2) + "\n")
        staged.commit()
    return ExportResult([onnx_path, card_file], card_file, diff, check_inputs)


# ----------------------------------------------------------------------------- MTCNN


def _mtcnn_check_images(images: Sequence[str | Path] | None) -> tuple[list[np.ndarray], str]:
    if images:
        files = _image_files(images)[:8]
        return [read_image(f) for f in files], f"{len(files)} images from {', '.join(map(str, images))}"
    media = shared_dir() / "media"
    files = [media / n for n in ("single_face.jpg", "multi_face.jpg") if (media / n).is_file()]
    if files:
        return [read_image(f) for f in files], "the P-, R- and O-net inputs of MTCNN on " + \
            ", ".join(f.name for f in files) + " (shared/media)"
    import cv2

    rng = np.random.default_rng(0)
    img = cv2.GaussianBlur(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8), (0, 0), 2)
    return [img], "a synthetic 320 x 240 image (smooth noise; the shared media folder is absent)"


def _record_mtcnn_inputs(frames: list[np.ndarray]) -> dict[str, list[np.ndarray]]:
    """The inputs facenet-pytorch's MTCNN feeds each network while detecting in ``frames``."""
    from facenet_pytorch import MTCNN

    mtcnn = MTCNN(min_face_size=MTCNN_DEFAULTS["min_face_size"], thresholds=MTCNN_DEFAULTS["thresholds"],
                  factor=MTCNN_DEFAULTS["factor"], keep_all=True, device="cpu")
    seen: dict[str, list[np.ndarray]] = {n: [] for n in MTCNN_NETS}
    for name in MTCNN_NETS:
        net = getattr(mtcnn, name)

        def hook(module, args, name=name):
            seen[name].append(args[0].detach().numpy().copy())

        net.register_forward_pre_hook(hook)
    with torch.inference_mode():
        for f in frames:
            mtcnn.detect(f)
    return seen


def export_mtcnn_onnx(out_dir: str | Path, *, opset: int = OPSET, check_images: Sequence[str | Path] | None = None,
                      tolerance: float = TOLERANCE, threads: int | None = 1) -> ExportResult:
    """Export MTCNN's P-, R- and O-net (Zhang et al. 2016) to ONNX, with ``mtcnn.json``.

    The weights are facenet-pytorch's (MIT), which ship in its wheel, and they stay
    there: the graphs are written without them (ONNX external data, a few kB each), and
    the card maps each initializer to its tensor in ``{pnet,rnet,onet}.pt``, from which
    :class:`~affectkit.faces.mtcnn_onnx.OnnxMTCNN` fills them when it loads
    (:mod:`affectkit.faces.mtcnn_weights`). The check runs the graphs that way. It feeds
    torch and ONNX Runtime the very inputs facenet-pytorch's MTCNN gives each network
    (every pyramid level for the P-net, the candidate crops for the R- and O-net) while
    detecting faces in real photos (``single_face.jpg`` and ``multi_face.jpg`` of the
    shared media folder, or ``check_images``), plus the P-net at batch 2.

    Parameters
    ----------
    out_dir : str or Path
        Output folder; created if missing.
    opset, tolerance, threads
        As :func:`export_face_onnx`.
    check_images : sequence of str or Path, optional
        Photos to detect faces in for the check.

    Returns
    -------
    ExportResult
        ``max_abs_diff`` keys are ``"pnet/reg"``, ``"pnet/prob"``, ...

    Raises
    ------
    WeightsError
        If ONNX Runtime and torch differ by more than ``tolerance`` (nothing is written).
    InputError
        If ``out_dir`` is not a writable folder.
    """
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    if opset < 17:
        raise ValueError(f"opset must be at least 17, got {opset}")
    paths = output_paths(Path(out_dir), [f"{n}.onnx" for n in MTCNN_NETS] + ["mtcnn.json"])
    frames, desc = _mtcnn_check_images(check_images)
    seen = _record_mtcnn_inputs(frames)
    rng = np.random.default_rng(0)
    sides = {"rnet": 24, "onet": 48}
    nets = {"pnet": PNet().eval(), "rnet": RNet().eval(), "onet": ONet().eval()}
    diff: dict[str, float] = {}
    sections = {}
    with StagedOutputs(paths) as staged:
        for (name, net), path in zip(nets.items(), paths):
            inputs, outputs = MTCNN_IO[name]
            batches = seen[name]
            if not batches:  # no candidate reached this stage: check on random crops instead
                batches = [rng.uniform(-1, 1, (5, 3, sides[name], sides[name])).astype(np.float32)]
                desc += f"; {name}: 5 random crops (no candidate reached it)"
            if name == "pnet":
                batches = batches + [np.concatenate([batches[0]] * 2)]  # batch 2
                dyn = {"image": {0: "batch", 2: "height", 3: "width"}}
                dyn.update({o: {0: "batch", 2: "out_height", 3: "out_width"} for o in outputs})
                shape = ["batch", 3, "height", "width"]
            else:
                batches = batches + [batches[0][:1]]  # batch 1
                dyn = {n: {0: "batch"} for n in (*inputs, *outputs)}
                shape = ["batch", 3, sides[name], sides[name]]
            tmp = staged.temp(path)
            _export_graph(net, torch.from_numpy(batches[0][:1]), tmp, inputs, outputs, dyn, opset,
                          {"affectkit_card": "mtcnn.json", "network": name})
            weights = _strip_weights(tmp, {k: v.numpy() for k, v in net.state_dict().items()}, f"{name}.pt")
            # Checked as it will run: the graph without weights, filled from facenet-pytorch's file.
            sess = session(tmp, threads=threads, initializers=mtcnn_initializers({"weights": weights}, tmp))
            diff.update(_difference(net, sess, batches, outputs, prefix=f"{name}/"))
            sections[name] = {"file": path.name, "input_names": list(inputs), "output_names": list(outputs),
                              "input_shape": shape, "checked_batches": len(batches), "weights": weights}
        _check_tolerance(diff, tolerance, "mtcnn")
        card = {
            "card_version": 1,
            "kind": "mtcnn",
            "name": "mtcnn",
            "description": "MTCNN face detector with five landmarks (Zhang et al. 2016, IEEE Signal Processing "
                           "Letters 23(10), 1499-1503), run by affectkit.faces.mtcnn_onnx.OnnxMTCNN",
            "weights": {"source": "facenet-pytorch (facenet_pytorch/data/{pnet,rnet,onet}.pt)",
                        "licence": "MIT", "version": _versions("facenet-pytorch").get("facenet-pytorch"),
                        "stored": "not in the graphs: read from the installed wheel when the detector loads "
                                  "(affectkit.faces.mtcnn_weights)", "install": MTCNN_INSTALL},
            "input": {"channels": "rgb", "layout": "NCHW", "dtype": "float32",
                      "normalisation": "(pixel - 127.5) * 0.0078125",
                      "resize": "area (torch.nn.functional.interpolate mode='area', i.e. adaptive average pooling)"},
            "detection": dict(MTCNN_DEFAULTS),
            "onnx": {
                "opset": opset,
                "networks": sections,
                "exporter": {"method": "torch.onnx.export (TorchScript, dynamo=False)",
                             **_versions("facenet-pytorch")},
                "check": {"inputs": desc, "tolerance": tolerance,
                          "max_abs_diff": {k: float(f"{v:.3g}") for k, v in diff.items()}},
            },
        }
        staged.temp(paths[-1]).write_text(json.dumps(card, indent=2) + "\n")
        staged.commit()
    return ExportResult(paths, paths[-1], diff, desc)


# ----------------------------------------------------------------------------- dispatch


def export_onnx(model: str | Path, out_dir: str | Path, **kwargs) -> ExportResult:
    """Export ``model`` to ONNX in ``out_dir``: ``"mtcnn"``, a bundled face model name, or a file.

    Parameters
    ----------
    model : str or Path
        ``"mtcnn"`` (:func:`export_mtcnn_onnx`), a bundled model name (``"default"``) or
        a face model's ``.safetensors`` file (:func:`export_face_onnx`). Voice models go
        through :func:`affectkit.load.export_onnx`.
    out_dir : str or Path
        Output folder.
    **kwargs
        ``opset``, ``check_images``, ``tolerance``, ``threads``.

    Returns
    -------
    ExportResult

    Raises
    ------
    WeightsError
        With a one-line message naming the file: it is missing, malformed, not a face
        model, or the export disagrees with torch.
    InputError
        If ``out_dir`` is not a writable folder.
    """
    if str(model) == "mtcnn":
        return export_mtcnn_onnx(out_dir, **kwargs)
    path = bundled_path(str(model)) if str(model) in BUNDLED else Path(model)
    if not path.exists() and path.suffix == "":
        raise WeightsError(f"{printable(model)}: no such model file, and not a bundled model or mtcnn "
                           f"(bundled: {', '.join(BUNDLED)})")
    kind = peek_kind(path)
    if kind in ("temporal", "voice"):
        raise WeightsError(f"{printable(path)}: is a {kind} model; this exports face models and mtcnn "
                           "(affectkit.load.export_onnx also voice models)")
    return export_face_onnx(path, out_dir, **kwargs)
