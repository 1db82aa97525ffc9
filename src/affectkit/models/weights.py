"""Reading model weights: safetensors only, never a pickle, with one-line errors.

The lowest layer of model loading: :mod:`affectkit.models.card` (face models),
:mod:`affectkit.models.backbones` (ImageNet weights), the temporal and voice loaders
all read tensors through :func:`read_weights` and copy them with
:func:`load_weights_into`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from affectkit.errors import WeightsError, one_line, printable


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a safetensors state dict; never a pickle.

    Parameters
    ----------
    path : str or Path
        A ``.safetensors`` file (the name does not matter; the content does).

    Returns
    -------
    dict
        Tensor name -> ``torch.Tensor`` on the CPU, dtypes as stored.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the file is missing, a folder,
        a model card, unreadable, or not a valid safetensors file (a ``torch.save``
        pickle, random bytes, a truncated download...).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    where = printable(path)
    if path.suffix == ".json":
        raise WeightsError(f"{where}: is a model card; pass the .safetensors file beside it")
    if path.is_dir():
        raise WeightsError(f"{where}: is a folder, not a model file")
    if not path.exists():
        raise WeightsError(f"{where}: model file not found")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
        return load_file(str(path))
    except OSError as exc:
        raise WeightsError(f"{where}: cannot read the model file ({exc.strerror or one_line(exc)})") from None
    except (SafetensorError, ValueError, TypeError, RuntimeError) as exc:
        raise WeightsError(f"{where}: {_not_safetensors(head, exc)}") from None


def _not_safetensors(head: bytes, exc: Exception) -> str:
    """Why a file is not safetensors, in a few words (``head``: its first 8 bytes)."""
    if not head:
        return "empty file, not a safetensors model"
    if head.startswith(b"PK\x03\x04") or head[:1] == b"\x80":
        # torch.save writes a zip of pickles (older versions: a bare pickle).
        return ("a torch.save pickle, not safetensors; affectkit never loads pickles "
                "(re-save the state dict with safetensors.torch.save_file)")
    msg = str(exc).removeprefix("Error while deserializing header: ")
    return f"not a valid safetensors file ({one_line(msg, 120)})"


def load_weights_into(module: nn.Module, state: dict[str, torch.Tensor], path: str | Path, what: str) -> None:
    """Copy ``state`` into ``module``, strictly, or say in one line why it does not fit.

    Parameters
    ----------
    module : nn.Module
        Built from the model card.
    state : dict
        From :func:`read_weights`.
    path : str or Path
        The weights file, for the message.
    what : str
        The architecture, for the message (e.g. ``"mobilenet_v2 EmotionNet"``).

    Raises
    ------
    WeightsError
        If tensors are missing, unexpected or of another shape.
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} tensor(s) missing, e.g. {missing[0]!r}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected, e.g. {unexpected[0]!r}")
    if wrong:
        k = wrong[0]
        problems.append(f"{k!r} is {tuple(state[k].shape)}, the card's architecture needs {tuple(own[k].shape)}")
    if problems:
        raise WeightsError(f"{printable(path)}: weights do not fit the card's {what}: {'; '.join(problems)}")
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise WeightsError(f"{printable(path)}: weights do not fit the card's {what} ({one_line(exc)})") from None


