"""Model cards and model files: one reader for every affectkit model (face, temporal, voice).

Every affectkit model is two files side by side:

* ``NAME.safetensors``: the weights, a plain safetensors state dict. No pickled
  modules, so loading runs no code; a pickle is never loaded, whatever its name.
* ``NAME.json``: the **model card**, everything needed to use the weights correctly
  (architecture, input size, channels, normalisation, crop policy, class order) and
  to judge them (training data and licences, the command that produced them,
  measured metrics).

A card's ``kind`` says which sort of model it is:

* ``face``: an :class:`~affectkit.models.network.EmotionNet` for face crops
  (``analyze --model``, ``evaluate --model``);
* ``temporal``: a :class:`~affectkit.temporal.trainer.TemporalNet` over frame sequences
  (``affectkit clip``, ``evaluate``);
* ``voice``: a :class:`~affectkit.audio.models.VielzeufMLP` on voice features
  (``analyze --audio --audio-model``).

Cards written before ``kind`` existed are recognised by their content: a face card
has ``architecture`` and ``classes``, a voice card has ``"modality": "audio"``.

:func:`read_card` and :func:`read_weights` are the only readers of these files; every
loader (:func:`load_model`, :func:`~affectkit.temporal.trainer.load_temporal`,
:func:`~affectkit.audio.models.load_audio_model`, and the dispatching :func:`affectkit.load.load_model`)
goes through them. Whatever is wrong with a file, they raise
:class:`~affectkit.errors.WeightsError` with a one-line message ``FILE: problem``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from affectkit.errors import WeightsError, one_line, printable
from affectkit.expressions import EXPRESSIONS
# write_json_atomic is imported from here by older callers; it lives in io.write.
from affectkit.io.write import atomic_path, write_json_atomic  # noqa: F401
from affectkit.models.network import EmotionNet
from affectkit.models.weights import load_weights_into, read_weights

CARD_VERSION = 1
"""The card version this affectkit writes and reads."""

KINDS = ("face", "temporal", "voice")
"""The kinds of model a card may declare."""

_USE = {
    "face": "analyze --model and evaluate --model",
    "temporal": "affectkit clip and evaluate --model",
    "voice": "analyze --audio --audio-model",
}
"""Where each kind of model is used, for wrong-kind messages."""


def card_path(weights: str | Path) -> Path:
    """Return the card path that belongs to a ``.safetensors`` file (same stem, ``.json``)."""
    return Path(weights).with_suffix(".json")


def export_model(net: EmotionNet, path: str | Path, *, recipe: dict | None = None, face_size: int = 48) -> Path:
    """Save ``net`` as ``path`` (safetensors) plus its model card ``path.json`` (kind ``face``).

    Parameters
    ----------
    net : EmotionNet
    path : str or Path
        Destination ``.safetensors`` file; written atomically.
    recipe : dict, optional
        Training config and data description, stored under ``"training"``.
    face_size : int
        Side, pixels, of the grey face crops the model was trained on (FER-2013: 48).

    Returns
    -------
    Path
        ``path``.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {k: v.detach().contiguous().cpu() for k, v in net.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt", "affectkit_card": card_path(path).name})
    card = {
        "card_version": CARD_VERSION,
        "kind": "face",
        "name": path.stem,
        "architecture": {
            "class": "affectkit.models.network.EmotionNet",
            "backbone": net.backbone_name,
            "network_size": net.network_size,
        },
        "input": {
            "face_size": int(face_size),
            "channels": "grey",
            "range": [0.0, 1.0],
            "resize": "area to face_size, then bilinear to network_size inside the network",
            "mean": net.mean.flatten().tolist(),
            "std": net.std.flatten().tolist(),
        },
        "crop_policy": "ng2015",
        "classes": list(EXPRESSIONS),
        "outputs": {"valence": [-1.0, 1.0], "arousal": [-1.0, 1.0]},
        "training": recipe or {},
        "metrics": {},
    }
    write_json_atomic(card_path(path), card)
    return path


# ----------------------------------------------------------------------------- card checks

_MISSING = object()


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _positive_int(v: Any) -> bool:
    return _is_int(v) and v >= 1


def _str_list(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _number_list(v: Any) -> bool:
    return isinstance(v, list) and all(_is_number(x) for x in v)


def _optional(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda v: v is None or check(v)


# (dotted key, required, check, what the value must be)
_Rule = tuple[str, bool, Callable[[Any], bool], str]

_RULES: dict[str, list[_Rule]] = {
    "face": [
        ("architecture", True, lambda v: isinstance(v, dict), "an object"),
        ("architecture.backbone", True, lambda v: isinstance(v, str), "a backbone name"),
        ("architecture.network_size", True, _positive_int, "a positive integer (pixels)"),
        ("input", True, lambda v: isinstance(v, dict), "an object"),
        ("input.face_size", True, _positive_int, "a positive integer (pixels)"),
        ("classes", True, _str_list, "a list of class names"),
        ("crop_policy", False, lambda v: isinstance(v, str), "a crop policy name"),
        ("training", False, lambda v: isinstance(v, dict), "an object"),
        ("training.config", False, lambda v: isinstance(v, dict), "an object"),
        ("training.config.task", False, lambda v: v in ("classes", "va", "multitask"),
         "one of classes, va, multitask"),
        ("metrics", False, lambda v: isinstance(v, dict), "an object"),
    ],
    "temporal": [
        ("config", True, lambda v: isinstance(v, dict), "an object"),
        ("config.model", True, lambda v: isinstance(v, str), "a temporal model name"),
        ("config.task", False, lambda v: v in ("classes", "va"), "one of classes, va"),
        ("config.embedding", False, lambda v: isinstance(v, str), "an embedding spec"),
        ("config.rate", False, _optional(lambda v: _is_number(v) and v > 0), "a positive number or null"),
        ("config.count", False, _optional(_positive_int), "a positive integer or null"),
        ("config.face_size", False, _positive_int, "a positive integer (pixels)"),
        ("config.c3d_frames", False, _positive_int, "a positive integer"),
        ("config.c3d_size", False, _positive_int, "a positive integer (pixels)"),
        ("classes", True, _str_list, "a list of class names"),
        ("model_kwargs", True, lambda v: isinstance(v, dict), "an object"),
        ("num_outputs", False, _positive_int, "a positive integer"),
        ("sampling", False, lambda v: isinstance(v, dict), "an object"),
        ("sampling.rate", False, _optional(lambda v: _is_number(v) and v > 0), "a positive number or null"),
        ("sampling.count", False, _optional(_positive_int), "a positive integer or null"),
        ("sampling.face_size", False, _optional(_positive_int), "a positive integer or null"),
        ("sampling.size", False, _optional(_positive_int), "a positive integer or null"),
        ("sampling.crop", False, _optional(lambda v: isinstance(v, str)), "a crop policy name or null"),
        ("sampling.detector_name", False, _optional(lambda v: isinstance(v, str)), "a detector name or null"),
        ("training", False, lambda v: isinstance(v, dict), "an object"),
    ],
    "voice": [
        ("modality", False, lambda v: v == "audio", '"audio"'),
        ("architecture", True, lambda v: isinstance(v, dict), "an object"),
        ("architecture.in_features", True, _positive_int, "a positive integer"),
        ("architecture.hidden", True, _positive_int, "a positive integer"),
        ("architecture.n_outputs", True, _positive_int, "a positive integer"),
        ("architecture.dropout", True, lambda v: _is_number(v) and 0 <= v < 1, "a number in [0, 1)"),
        ("features", True, lambda v: isinstance(v, dict), "an object"),
        ("features.kind", True, lambda v: isinstance(v, str), "a feature kind name"),
        ("features.names", True, _str_list, "a list of feature names"),
        ("features.sample_rate", True, _positive_int, "a positive integer (Hz)"),
        ("features.window_s", False, _optional(lambda v: _is_number(v) and v > 0), "a positive number or null"),
        ("features.speaker_norm", False, lambda v: isinstance(v, bool), "true or false"),
        ("standardisation", True, lambda v: isinstance(v, dict), "an object"),
        ("standardisation.mean", True, _number_list, "a list of numbers"),
        ("standardisation.std", True, _number_list, "a list of numbers"),
        ("class_names", True, lambda v: _str_list(v) and len(v) > 0, "a non-empty list of class names"),
        ("output_classes", True, lambda v: isinstance(v, list) and all(_is_int(c) for c in v),
         "a list of class ids"),
        ("hyperparameters", False, lambda v: isinstance(v, dict), "an object"),
        ("calibration", False, lambda v: isinstance(v, dict), "an object"),
        ("calibration.temperature", False, lambda v: _is_number(v) and v > 0, "a number > 0"),
        ("training", False, lambda v: isinstance(v, dict), "an object"),
    ],
}
"""What each kind of card must (or may) hold, and of what type."""


def _lookup(card: dict, dotted: str) -> Any:
    value: Any = card
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _shown(value: Any) -> str:
    return one_line(json.dumps(value) if not isinstance(value, str) else repr(value), 60)


def _check_rules(card: dict, kind: str, where: str) -> None:
    for key, required, check, what in _RULES[kind]:
        value = _lookup(card, key)
        if value is _MISSING:
            if required:
                raise WeightsError(f"{where}: model card has no {key!r} (a {kind} model card needs it)")
            continue
        if not check(value):
            raise WeightsError(f"{where}: model card {key!r} must be {what}, got {_shown(value)}")


def _check_face(card: dict, where: str) -> None:
    from affectkit.models.backbones import REGISTRY

    arch = card["architecture"]
    spec = REGISTRY.get(arch["backbone"])
    if spec is None:
        raise WeightsError(f"{where}: unknown backbone {arch['backbone']!r} in the model card; "
                           f"known: {', '.join(sorted(REGISTRY))}")
    if arch["network_size"] < spec.preprocess.min_size:
        raise WeightsError(f"{where}: model card network_size {arch['network_size']} is below "
                           f"{spec.name}'s smallest input, {spec.preprocess.min_size} pixels")
    if card["classes"] != list(EXPRESSIONS):
        raise WeightsError(f"{where}: class order {_shown(card['classes'])} differs from "
                           f"affectkit's {_shown(list(EXPRESSIONS))}")


def _check_temporal(card: dict, where: str) -> None:
    from affectkit.temporal.models import TEMPORAL_MODELS

    model = card["config"]["model"]
    if model not in TEMPORAL_MODELS:
        raise WeightsError(f"{where}: unknown temporal model {model!r} in the model card; "
                           f"known: {', '.join(TEMPORAL_MODELS)}")
    # C3D standardises pixels (input_dim 1); every other model needs the embedding width.
    if model != "c3d":
        if "input_dim" not in card:
            raise WeightsError(f"{where}: model card has no 'input_dim' (a temporal model card needs it)")
        if not _positive_int(card["input_dim"]):
            raise WeightsError(f"{where}: model card 'input_dim' must be a positive integer, "
                               f"got {_shown(card['input_dim'])}")
    # Every output needs a name, and every name an output.
    if card["config"].get("task") == "classes" and "num_outputs" in card:
        if not isinstance(card.get("classes"), list) or len(card["classes"]) != card["num_outputs"]:
            raise WeightsError(f"{where}: model card names {len(card.get('classes') or [])} classes for "
                               f"{_shown(card['num_outputs'])} outputs")


def _check_voice(card: dict, where: str) -> None:
    arch, feats, std = card["architecture"], card["features"], card["standardisation"]
    d = arch["in_features"]
    for key, n in (("features.names", len(feats["names"])), ("standardisation.mean", len(std["mean"])),
                   ("standardisation.std", len(std["std"]))):
        if n != d:
            raise WeightsError(f"{where}: model card {key!r} has {n} entries for {d} input features")
    out = card["output_classes"]
    if len(out) != arch["n_outputs"]:
        raise WeightsError(f"{where}: model card 'output_classes' has {len(out)} ids for "
                           f"{arch['n_outputs']} outputs")
    bad = [c for c in out if not 0 <= c < len(card["class_names"])]
    if bad:
        raise WeightsError(f"{where}: model card 'output_classes' {bad[0]} does not index the "
                           f"{len(card['class_names'])} class_names")


_CHECKS = {"face": _check_face, "temporal": _check_temporal, "voice": _check_voice}


def infer_kind(card: dict) -> str | None:
    """The kind of model a card describes: its ``kind``, or for older cards, their content.

    Parameters
    ----------
    card : dict
        A parsed model card.

    Returns
    -------
    str or None
        ``"face"``, ``"temporal"`` or ``"voice"``; the declared ``kind`` as it is when
        the card has one (valid or not); None when the card has none and looks like
        none of them.
    """
    if "kind" in card:
        return card["kind"]
    if card.get("modality") == "audio":
        return "voice"
    if "architecture" in card and "classes" in card:
        return "face"
    return None


def _load_json(weights: Path, cp: Path) -> Any:
    if weights.is_dir():
        raise WeightsError(f"{printable(weights)}: is a folder, not a model file")
    if not cp.is_file():
        if cp.is_dir():
            raise WeightsError(f"{printable(cp)}: is a folder, not a model card")
        if not weights.exists():
            raise WeightsError(f"{printable(weights)}: model file not found")
        raise WeightsError(f"{printable(cp)}: model card not found next to {printable(weights.name)}")
    try:
        return json.loads(cp.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WeightsError(f"{printable(cp)}: cannot read the model card ({exc.strerror or one_line(exc)})") from None
    except ValueError as exc:  # JSONDecodeError, or bytes that are not UTF-8
        raise WeightsError(f"{printable(cp)}: model card is not valid JSON ({one_line(exc, 120)})") from None
    except RecursionError:
        raise WeightsError(f"{printable(cp)}: model card is not valid JSON (nested too deeply)") from None


def peek_kind(weights: str | Path) -> str | None:
    """The kind of model ``weights`` is, from its card, without checking the card.

    For routing (e.g. ``evaluate`` sends temporal models elsewhere): never raises, so
    the loader that the kind routes to reports what is wrong with the files.

    Parameters
    ----------
    weights : str or Path
        A ``.safetensors`` file.

    Returns
    -------
    str or None
        As :func:`infer_kind`; None when the card is missing, unreadable or not a
        JSON object.
    """
    try:
        card = _load_json(Path(weights), card_path(weights))
    except WeightsError:
        return None
    return infer_kind(card) if isinstance(card, dict) else None


def read_card(weights: str | Path, kind: str | None = None) -> dict:
    """Read and check the model card next to ``weights``.

    Parameters
    ----------
    weights : str or Path
        The ``.safetensors`` file; its card is the ``.json`` with the same stem.
    kind : {"face", "temporal", "voice"}, optional
        The kind of model the caller needs; another kind is an error.

    Returns
    -------
    dict
        The card, with ``kind`` set (inferred for cards written before it existed).

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the card (or, when the card is
        missing too, the weights file) is missing; the card is unreadable, not JSON,
        not a JSON object, of another ``card_version`` or an unknown ``kind``; a key
        that its kind needs is missing or of the wrong type (e.g. an unknown backbone,
        a ``network_size`` that is not a positive integer); or the model is of another
        kind than ``kind``.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    weights = Path(weights)
    cp = card_path(weights)
    where = printable(cp)
    card = _load_json(weights, cp)
    if not isinstance(card, dict):
        raise WeightsError(f"{where}: model card must be a JSON object, got a JSON {type(card).__name__}")
    if "card_version" not in card:
        raise WeightsError(f"{where}: model card has no 'card_version'")
    if not _is_int(card["card_version"]) or card["card_version"] != CARD_VERSION:
        raise WeightsError(f"{where}: unsupported card_version {_shown(card['card_version'])} "
                           f"(this affectkit reads version {CARD_VERSION})")
    actual = infer_kind(card)
    if actual is not None and actual not in KINDS:
        raise WeightsError(f"{where}: unknown model kind {_shown(actual)}; known: {', '.join(KINDS)}")
    if actual is None:
        if kind is None:
            raise WeightsError(f"{where}: model card has no 'kind' (one of {', '.join(KINDS)}), and its content "
                               "fits no kind of model")
        actual = kind  # check it as the kind the caller needs: the message names what is missing
    if kind is not None and actual != kind:
        raise WeightsError(f"{printable(weights)}: is a {actual} model, not a {kind} model "
                           f"({actual} models go to {_USE[actual]})")
    _check_rules(card, actual, where)
    _CHECKS[actual](card, where)
    card.setdefault("kind", actual)
    return card


# ----------------------------------------------------------------------------- loaders


def load_model(weights: str | Path) -> tuple[EmotionNet, dict]:
    """Load an exported face model and its card.

    Parameters
    ----------
    weights : str or Path
        The ``.safetensors`` file; its card (kind ``face``) is the ``.json`` beside it.

    Returns
    -------
    net : EmotionNet
        In eval mode, on the CPU. Input ``(B, 1, H, W)`` ``float32`` grey faces in
        ``[0, 1]``; output ``logits`` ``(B, 7)`` and ``va`` ``(B, 2)``.
    card : dict
        See :func:`read_card`.

    Raises
    ------
    WeightsError
        If the weights or card are missing or malformed, the model is not a face
        model, or the weights do not fit the card's architecture (one-line message
        naming the file).
    """
    weights = Path(weights)
    card = read_card(weights, kind="face")
    state = read_weights(weights)
    arch = card["architecture"]
    net = EmotionNet(arch["backbone"], arch["network_size"], pretrained=False)
    # A model trained on a backbone whose registry entry has changed since (EfficientNet-Lite0:
    # TF padding and [-1, 1] inputs) would load and run, wrongly; its recorded normalisation tells.
    recorded = card.get("input", {})
    for key in ("mean", "std"):
        now = getattr(net, key).flatten().tolist()
        if key in recorded and (len(recorded[key]) != len(now)
                                or any(abs(float(a) - b) > 1e-6 for a, b in zip(recorded[key], now))):
            raise WeightsError(f"{printable(weights)}: trained with input {key} {recorded[key]}, but this version's "
                               f"{arch['backbone']} uses {[round(v, 4) for v in now]}; retrain it, or run its ONNX "
                               "export (affectkit export), which keeps its own preprocessing")
    load_weights_into(net, state, weights, f"{arch['backbone']} EmotionNet")
    return net.eval(), card


def load_for_finetuning(weights: str | Path, backbone: str, network_size: int) -> EmotionNet:
    """Load an exported model as the starting point of further training (a cascade stage).

    Parameters
    ----------
    weights : str or Path
        Exported ``.safetensors`` with its card.
    backbone : str
        The backbone the new stage expects; it must match the model's.
    network_size : int
        Face side, pixels, at the backbone input for the new stage.

    Returns
    -------
    EmotionNet
        In train mode.

    Raises
    ------
    WeightsError
        If the model cannot be loaded.
    ValueError
        If its backbone differs from ``backbone``.
    """
    net, card = load_model(weights)
    if card["architecture"]["backbone"] != backbone:
        raise ValueError(f"{printable(weights)}: backbone {card['architecture']['backbone']} != {backbone}")
    net.network_size = network_size
    return net.train()
