"""Model cards: the JSON that travels with every affectkit model's safetensors file.

A card holds everything needed to use the weights correctly (architecture, input size,
channels, normalisation, crop policy, class order) and to judge them (training data and
licences, the command that produced them, measured metrics). Weights are a plain
safetensors state dict: no pickled modules, so loading runs no code.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch

from affectkit.errors import WeightsError
from affectkit.expressions import EXPRESSIONS
from affectkit.models.network import EmotionNet

CARD_VERSION = 1


def card_path(weights: str | Path) -> Path:
    """Return the card path that belongs to a ``.safetensors`` file (same stem, ``.json``)."""
    return Path(weights).with_suffix(".json")


def write_json_atomic(path: str | Path, obj: dict) -> None:
    """Write ``obj`` as indented JSON to ``path`` via a temporary file and rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def export_model(net: EmotionNet, path: str | Path, *, recipe: dict | None = None, face_size: int = 48) -> Path:
    """Save ``net`` as ``path`` (safetensors) plus its model card ``path.json``.

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
    tmp = path.with_name(f".{path.name}.tmp")
    save_file(state, str(tmp), metadata={"format": "pt", "affectkit_card": card_path(path).name})
    os.replace(tmp, path)
    card = {
        "card_version": CARD_VERSION,
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


def read_card(weights: str | Path) -> dict:
    """Read the model card next to ``weights``.

    Raises
    ------
    WeightsError
        If the card is missing, unreadable or of an unknown version.
    """
    cp = card_path(weights)
    try:
        card = json.loads(cp.read_text())
    except FileNotFoundError:
        raise WeightsError(f"{cp}: model card not found next to {Path(weights).name}") from None
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{cp}: model card is not valid JSON ({exc})") from None
    if card.get("card_version") != CARD_VERSION:
        raise WeightsError(f"{cp}: unsupported card_version {card.get('card_version')!r}")
    return card


def load_model(weights: str | Path) -> tuple[EmotionNet, dict]:
    """Load an exported model and its card.

    Returns
    -------
    net : EmotionNet
        In eval mode, on the CPU.
    card : dict

    Raises
    ------
    WeightsError
        If the weights or card are missing or do not match the architecture.
    """
    from safetensors.torch import load_file

    weights = Path(weights)
    if not weights.is_file():
        raise WeightsError(f"{weights}: model weights not found")
    card = read_card(weights)
    arch = card["architecture"]
    if card["classes"] != list(EXPRESSIONS):
        raise WeightsError(f"{weights}: class order {card['classes']} differs from {list(EXPRESSIONS)}")
    net = EmotionNet(arch["backbone"], arch["network_size"], pretrained=False)
    try:
        net.load_state_dict(load_file(str(weights)), strict=True)
    except (RuntimeError, OSError) as exc:
        raise WeightsError(f"{weights}: weights do not fit {arch['backbone']} ({str(exc)[:200]})") from None
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
        raise ValueError(f"{weights}: backbone {card['architecture']['backbone']} != {backbone}")
    net.network_size = network_size
    return net.train()
