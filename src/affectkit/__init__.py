"""affectkit: emotion recognition from faces in images and video, built on transfer learning.

Main entry points
-----------------
analyze(inputs, ...) -> pandas.DataFrame
    Media (images, folders, videos) to a per-frame table of expressions, valence and
    arousal (see :mod:`affectkit.table` for the columns).
Recognizer(model="default").predict(faces) -> pandas.DataFrame
    For face crops you already have.
"""

from affectkit.errors import AffectkitError, InputError, WeightsError
from affectkit.expressions import EXPRESSIONS

__version__ = "0.1.0"
__all__ = ["analyze", "Recognizer", "EXPRESSIONS", "AffectkitError", "InputError", "WeightsError"]


def __getattr__(name: str):
    # Lazy: importing torch for `affectkit --help` would cost seconds.
    if name == "analyze":
        from affectkit.pipeline import analyze

        return analyze
    if name == "Recognizer":
        from affectkit.models.recognizer import Recognizer

        return Recognizer
    raise AttributeError(f"module 'affectkit' has no attribute {name!r}")
