"""affectkit: emotion recognition from faces in images and video, built on transfer learning.

Main entry points
-----------------
analyze(inputs, ...) -> pandas.DataFrame
    Media (images, folders, videos) to a per-frame table of expressions, valence and
    arousal (see :mod:`affectkit.table` for the columns).
Recognizer(model="default").predict(faces) -> pandas.DataFrame
    For face crops you already have.
run_experiment(ExperimentConfig(...)) -> dict
    Train and evaluate a transfer-learning experiment (``affectkit train``).
evaluate_models(models, faces) -> dict
    Score exported models on a labelled dataset (``affectkit evaluate``).
extract_features(faces, backbone, taps) -> dict
    Frozen-backbone embeddings (``affectkit features``).
load_dataset("KIND:PATH", split) -> FaceSet
    Any supported face dataset.
"""

from affectkit.errors import AffectkitError, InputError, WeightsError
from affectkit.expressions import EXPRESSIONS

__version__ = "0.1.0"
__all__ = ["analyze", "Recognizer", "EXPRESSIONS", "AffectkitError", "InputError", "WeightsError",
           "ExperimentConfig", "run_experiment", "evaluate_models", "extract_features", "load_dataset"]

_LAZY = {
    "analyze": "affectkit.pipeline",
    "Recognizer": "affectkit.models.recognizer",
    "ExperimentConfig": "affectkit.training.experiment",
    "run_experiment": "affectkit.training.experiment",
    "evaluate_models": "affectkit.evaluation.evaluate",
    "extract_features": "affectkit.training.features",
    "load_dataset": "affectkit.data.registry",
}


def __getattr__(name: str):
    # Lazy: importing torch for `affectkit --help` would cost seconds.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'affectkit' has no attribute {name!r}")
