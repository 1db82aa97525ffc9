"""Temporal models: emotion over time from sequences of per-frame embeddings.

See :mod:`affectkit.temporal.models` for the models and :func:`create_temporal_model`.
"""

from affectkit.temporal.models import (
    C3D,
    TEMPORAL_MODELS,
    FrameSelection,
    MeanPooling,
    RecurrentHead,
    TransformerLSTM,
    create_temporal_model,
)

__all__ = [
    "C3D",
    "TEMPORAL_MODELS",
    "FrameSelection",
    "MeanPooling",
    "RecurrentHead",
    "TransformerLSTM",
    "create_temporal_model",
]
