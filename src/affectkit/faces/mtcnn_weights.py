"""MTCNN's weights, read from the facenet-pytorch wheel without torch.

affectkit ships MTCNN's three ONNX graphs without their weights
(``affectkit/weights/mtcnn/*.onnx``, a few kB each). The weights are facenet-pytorch's
(MIT, Timothy Esler), and a third party's weights do not belong in affectkit's
repository: they are read when the detector loads, from the files that
facenet-pytorch's wheel on PyPI installs, ``facenet_pytorch/data/{pnet,rnet,onet}.pt``.
The package is located, never imported (importing it imports torch), so it is
installed without its dependencies::

    pip install --no-deps facenet-pytorch==2.5.3

(``scripts/setup.sh`` and ``scripts/demo.sh`` do this; the ``train`` extra installs it
with torch.) A folder named by ``$AFFECTKIT_WEIGHTS_DIR`` holding ``pnet.pt``,
``rnet.pt`` and ``onet.pt`` is looked at first, for machines without a package index.

The ``.pt`` files use torch's legacy serialisation (torch < 1.6): a magic number, a
protocol version and a system-info record, then a pickle of the state dict whose
tensors refer to storages by key, then the list of storage keys, then each storage as
a little-endian int64 element count and its raw bytes. They are read with an
allow-listed unpickler (``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2``
and the storage type names only), so nothing else a pickle could name is ever run.
"""

from __future__ import annotations

import collections
import pickle
from pathlib import Path

import numpy as np

from affectkit.errors import WeightsError, one_line, printable
from affectkit.paths import package_data_file

PACKAGE = "facenet-pytorch==2.5.3"
INSTALL = f"pip install --no-deps {PACKAGE}"
_MAGIC = 0x1950A86A20F9469CFC6C
_PROTOCOL = 1001
_STORAGES = {"FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
             "LongStorage": np.int64, "IntStorage": np.int32, "ByteStorage": np.uint8}


def mtcnn_weight_file(net: str) -> Path:
    """Where ``{net}.pt`` is: ``$AFFECTKIT_WEIGHTS_DIR``, else the installed facenet-pytorch.

    Parameters
    ----------
    net : {"pnet", "rnet", "onet"}

    Returns
    -------
    Path
        An existing file.

    Raises
    ------
    WeightsError
        One line naming the install command, if neither place has the file.
    """
    path = package_data_file("facenet_pytorch", f"{net}.pt")
    if path is not None:
        return path
    raise WeightsError(f"MTCNN weights {net}.pt not found: install them with `{INSTALL}` "
                       "(facenet-pytorch's wheel ships them; MIT), or use --detector haar")


class _Tensor:
    """A tensor that the pickle describes, filled once its storage has been read."""

    def __init__(self, storage_key: str, offset: int, size: tuple, stride: tuple):
        self.storage_key, self.offset, self.size, self.stride = storage_key, offset, size, stride


class _Unpickler(pickle.Unpickler):
    """Only what a legacy state dict of float tensors needs; anything else is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return lambda storage, offset, size, stride, *rest: _Tensor(storage, offset, tuple(size), tuple(stride))
        if module == "torch" and name in _STORAGES:
            return name
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")

    def persistent_load(self, pid):
        # ("storage", storage type, key, device, element count, view metadata)
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage" and pid[1] in _STORAGES):
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        self.types[str(pid[2])] = (_STORAGES[pid[1]], int(pid[4]))
        return str(pid[2])


def read_legacy_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """Read a state dict saved by ``torch.save`` in the legacy (pre-1.6, non-zip) format.

    Parameters
    ----------
    path : str or Path
        The ``.pt`` file.

    Returns
    -------
    dict
        Parameter name -> ``np.ndarray`` (a copy, C-contiguous, in the stored dtype,
        e.g. ``float32``), with the tensor's shape; the stored strides are honoured.

    Raises
    ------
    WeightsError
        One line naming the file, if it is missing, not in that format, truncated, or
        names anything but tensors in an ``OrderedDict``.
    """
    path = Path(path)
    where = printable(path)
    try:
        with open(path, "rb") as f:
            if pickle.load(f) != _MAGIC or pickle.load(f) != _PROTOCOL:
                raise WeightsError(f"{where}: not a legacy torch.save file (wrong magic number or protocol)")
            info = pickle.load(f)
            if not isinstance(info, dict) or not info.get("little_endian", False):
                raise WeightsError(f"{where}: not a little-endian legacy torch.save file")
            unpickler = _Unpickler(f)
            unpickler.types = {}
            state = unpickler.load()
            keys = pickle.load(f)
            storages = {}
            for key in keys:
                dtype, count = unpickler.types[str(key)]
                n = int(np.frombuffer(f.read(8), "<i8")[0])
                if n != count:
                    raise WeightsError(f"{where}: storage {key} holds {n} elements, the pickle says {count}")
                data = np.frombuffer(f.read(n * np.dtype(dtype).itemsize), dtype)
                if data.size != n:
                    raise WeightsError(f"{where}: truncated (storage {key})")
                storages[str(key)] = data
    except WeightsError:
        raise
    except FileNotFoundError:
        raise WeightsError(f"{where}: weights file not found") from None
    except OSError as exc:
        raise WeightsError(f"{where}: cannot read the weights file ({exc.strerror or one_line(exc)})") from None
    except (pickle.UnpicklingError, EOFError, KeyError, IndexError, ValueError, TypeError) as exc:
        raise WeightsError(f"{where}: not a legacy torch state dict of tensors ({one_line(exc, 120)})") from None
    if not isinstance(state, dict) or not all(isinstance(t, _Tensor) for t in state.values()):
        raise WeightsError(f"{where}: not a state dict of tensors")
    out = {}
    for name, t in state.items():
        data = storages[t.storage_key]
        item = data.itemsize
        last = t.offset + sum((s - 1) * st for s, st in zip(t.size, t.stride))
        if t.offset < 0 or (all(t.size) and last >= data.size):
            raise WeightsError(f"{where}: tensor {name} lies outside its storage")
        view = np.lib.stride_tricks.as_strided(data[t.offset:], shape=t.size,
                                               strides=tuple(st * item for st in t.stride), writeable=False)
        out[str(name)] = np.ascontiguousarray(view)
    return out


def mtcnn_initializers(network: dict, card_path: str | Path) -> dict[str, np.ndarray] | None:
    """The external initializers of one MTCNN graph, from facenet-pytorch's ``.pt`` file.

    Parameters
    ----------
    network : dict
        The card's ``onnx.networks.<net>`` section. Its ``weights`` entry, when present,
        names the ``.pt`` file and maps each initializer name to a state-dict key and a
        shape: ``{"file": "onet.pt", "initializers": {"conv1.weight": {"key": "conv1.weight",
        "shape": [32, 3, 3, 3]}, ...}}``.
    card_path : str or Path
        The card, for messages.

    Returns
    -------
    dict or None
        Initializer name -> ``float32`` array of its shape; None for a graph that holds its
        own weights (no ``weights`` entry).

    Raises
    ------
    WeightsError
        One line, if the weights are not installed, or the entry or the file does not match.
    """
    spec = network.get("weights")
    if spec is None:
        return None
    where = printable(card_path)
    inits = spec.get("initializers") if isinstance(spec, dict) else None
    if not isinstance(inits, dict) or not isinstance(spec.get("file"), str):
        raise WeightsError(f"{where}: model card 'weights' needs a 'file' and an 'initializers' object")
    path = mtcnn_weight_file(Path(spec["file"]).stem)
    state = read_legacy_state_dict(path)
    out = {}
    for name, entry in inits.items():
        key, shape = (entry.get("key"), entry.get("shape")) if isinstance(entry, dict) else (None, None)
        if key not in state:
            raise WeightsError(f"{printable(path)}: has no tensor {key!r}, which {where} names for {name}")
        value = state[key]
        if not isinstance(shape, list) or int(np.prod(shape)) != value.size:
            raise WeightsError(f"{printable(path)}: tensor {key} has {value.size} values, {where} expects shape {shape}")
        out[str(name)] = value.reshape(shape)
    return out
