"""The multi-task emotion network: a pretrained backbone with expression and
valence/arousal heads.

Classes and valence/arousal are learned jointly from one shared embedding, as in
Vielzeuf et al. 2018 ("An Occam's Razor View on Learning Audiovisual Emotion
Recognition with Small Training Sets").
"""

from __future__ import annotations

import numbers

import torch
from torch import nn

from affectkit.expressions import EXPRESSIONS
from affectkit.models.backbones import backbone_spec, create_backbone, to_network_input


class EmotionNet(nn.Module):
    """Backbone + expression head + valence/arousal head.

    The preprocessing that must never mismatch lives inside the module: grey input
    is resized to ``network_size`` (bilinear), replicated to three channels and
    normalised with the backbone's ImageNet mean/std.

    Parameters
    ----------
    backbone : str
        Registry name (see :mod:`affectkit.models.backbones`).
    network_size : int
        Side in pixels the face is resized to before the backbone.
    pretrained : bool
        Start from ImageNet weights (offline-first).
    weights : str, optional
        Local ImageNet weights file (see :func:`~affectkit.models.backbones.pretrained_state`).
    dropout : float
        Dropout before the heads.

    Raises
    ------
    UnknownNameError
        If ``backbone`` is not registered.
    ValueError
        If ``network_size`` is not an integer of at least the backbone's smallest
        input side (:attr:`~affectkit.models.backbones.PreprocessConfig.min_size`).
    WeightsError
        If ``pretrained`` and no ImageNet weights can be read.

    Input
    -----
    ``(B, 1, H, W)`` grey (replicated to RGB) or ``(B, 3, H, W)`` RGB ``float32``
    faces in ``[0, 1]``.

    Output
    ------
    dict with ``logits`` ``(B, 7)`` (class order :data:`~affectkit.expressions.EXPRESSIONS`)
    and ``va`` ``(B, 2)`` valence and arousal in ``[-1, 1]`` (tanh).
    """

    def __init__(
        self,
        backbone: str = "mobilenet_v2",
        network_size: int = 80,
        pretrained: bool = True,
        dropout: float = 0.2,
        weights: str | None = None,
    ):
        super().__init__()
        spec = backbone_spec(backbone)
        # Checked here, not at the first forward pass: a model card or option may hold any value.
        if isinstance(network_size, bool) or not isinstance(network_size, numbers.Integral) \
                or network_size < spec.preprocess.min_size:
            raise ValueError(f"network_size must be an integer >= {spec.preprocess.min_size} (pixels) for "
                             f"{backbone}, got {network_size!r}")
        self.backbone_name = backbone
        self.network_size = int(network_size)
        self.backbone, dim, spec = create_backbone(backbone, pretrained=pretrained, weights=weights)
        # Grey replicated to RGB: fold the per-channel normalisation into buffers.
        self.register_buffer("mean", torch.tensor(spec.preprocess.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(spec.preprocess.std).view(1, 3, 1, 1), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.expression_head = nn.Linear(dim, len(EXPRESSIONS))
        self.va_head = nn.Linear(dim, 2)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """Resize ``(B, 1|3, H, W)`` ``[0, 1]`` input and normalise it to ``(B, 3, S, S)``."""
        return to_network_input(x, self.network_size, self.mean, self.std)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Return the pooled ``(B, D)`` embedding of grey ``[0, 1]`` faces."""
        return self.backbone(self.prepare(x))

    def heads(self, z: torch.Tensor) -> dict[str, torch.Tensor]:
        """Apply dropout and both heads to a ``(B, D)`` embedding (see ``forward``)."""
        z = self.dropout(z)
        return {"logits": self.expression_head(z), "va": torch.tanh(self.va_head(z))}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.heads(self.embed(x))
