"""Face detection, landmarks and alignment."""

from affectkit.faces.types import Face

__all__ = ["Face"]
