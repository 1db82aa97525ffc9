"""affectkit: emotion recognition from faces, face sequences and voice, built on transfer learning.

Main entry points
-----------------
analyze(inputs, ...) -> pandas.DataFrame
    Media (images, folders, videos) to a per-frame table of expressions, valence and
    arousal (see :mod:`affectkit.table` for the columns); ``audio="default"`` adds the
    voice and fused columns from each video's sound.
analyze_to_file(inputs, output, ...) -> dict
    The same, streamed to a table file (``affectkit analyze``).
batch(inputs, out_dir, ...) -> dict
    Many sources, one Parquet table each, resumable, serially or on Ray (``affectkit batch``).
AnalyzeOptions(...)
    The options of both, defined and checked in one place.
Recognizer(model="default").predict(faces) -> pandas.DataFrame
    For face crops you already have (ONNX Runtime, no torch).
analyze_clips(videos, model) -> (clips, steps, errors)
    Clip-level and per-step emotion from a temporal model (``affectkit clip``).
load_model(path) -> (model, card)
    Any affectkit model file (face, temporal or voice), by its card's ``kind``.
load_dataset("KIND:PATH", split) -> FaceSet
    Any supported face dataset.
run_experiment(ExperimentConfig(...)) -> dict
    Train and evaluate a face transfer-learning experiment (``affectkit train faces``).
run_temporal_experiment(cfg, train, out_dir, ...) -> dict
    The same for temporal models on sequences (``affectkit train temporal``).
run_audio_experiment(audioset, features, model, ...) -> dict
    The same for voice models (``affectkit train voice --data emodb:...``).
evaluate_models(models, faces) -> dict
    Score exported face models on a labelled dataset (``affectkit evaluate``).
extract_features(faces, backbone, taps) -> dict
    Frozen-backbone embeddings (``affectkit features``).
EXPRESSIONS
    The seven expression names, in the order of every table and model output.

Errors the user can fix derive from :class:`AffectkitError`: :class:`InputError` (media),
:class:`DataError` (datasets), :class:`WeightsError` (model files), :class:`OptionError`
(options and configuration keys), :class:`UnknownNameError` (a backbone, tap... name).

Everything above but the errors and ``EXPRESSIONS`` is imported on first use, so that
``import affectkit`` (and ``affectkit --help``) does not import torch.
"""

from typing import TYPE_CHECKING

from affectkit.errors import AffectkitError, DataError, InputError, OptionError, UnknownNameError, WeightsError
from affectkit.expressions import EXPRESSIONS

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from affectkit.audio.experiment import run_audio_experiment
    from affectkit.data.registry import load_dataset
    from affectkit.evaluation.evaluate import evaluate_models
    from affectkit.load import load_model
    from affectkit.models.onnx_face import Recognizer
    from affectkit.pipeline import AnalyzeOptions, analyze, analyze_to_file
    from affectkit.scale.run import batch
    from affectkit.temporal.experiment import run_temporal_experiment
    from affectkit.temporal.predict import analyze_clips
    from affectkit.training.experiment import ExperimentConfig, run_experiment
    from affectkit.training.features import extract_features

__version__ = "0.1.0"

_LAZY = {
    "analyze": "affectkit.pipeline",
    "analyze_to_file": "affectkit.pipeline",
    "AnalyzeOptions": "affectkit.pipeline",
    "batch": "affectkit.scale.run",
    "Recognizer": "affectkit.models.onnx_face",  # ONNX Runtime, no torch
    "analyze_clips": "affectkit.temporal.predict",
    "load_model": "affectkit.load",
    "load_dataset": "affectkit.data.registry",
    "ExperimentConfig": "affectkit.training.experiment",
    "run_experiment": "affectkit.training.experiment",
    "run_temporal_experiment": "affectkit.temporal.experiment",
    "run_audio_experiment": "affectkit.audio.experiment",
    "evaluate_models": "affectkit.evaluation.evaluate",
    "extract_features": "affectkit.training.features",
}
"""Public name -> the module that defines it, imported on first use."""

__all__ = [  # a plain list of strings, as type checkers read it
    "analyze", "analyze_to_file", "AnalyzeOptions", "batch", "Recognizer", "analyze_clips", "load_model", "load_dataset",
    "ExperimentConfig", "run_experiment", "run_temporal_experiment", "run_audio_experiment", "evaluate_models",
    "extract_features", "EXPRESSIONS",
    "AffectkitError", "InputError", "DataError", "WeightsError", "OptionError", "UnknownNameError",
]


def __getattr__(name: str):
    # Lazy: importing torch for `affectkit --help` would cost seconds.
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'affectkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    # dir(affectkit) lists the lazy names too, before they are first used.
    return sorted(set(globals()) | set(__all__))
