"""Lightning checkpoints stored as safetensors instead of pickles.

Lightning's ``.ckpt`` files are ``torch.save`` pickles: loading one can run
arbitrary code, so they are unsafe to share. :class:`SafetensorsCheckpointIO`
stores the same checkpoint dict (model weights, optimizer and LR-scheduler state,
loop and callback state, hyper-parameters) as one safetensors file, and loads it
back for ``trainer.fit(..., ckpt_path=...)`` resume, ``validate``/``test``/``predict``
with ``ckpt_path``, and ``trainer.save_checkpoint``.

File layout
-----------
Every tensor (and every numpy array or scalar) is a safetensors tensor, named
after its place in the checkpoint (``"state_dict/net.fc.weight"``,
``"optimizer_states/0/state/3/momentum_buffer"``, ...). Everything else is a JSON
"skeleton" in the safetensors header metadata under ``"affectkit_state"``; it
records the structure and the Python types that JSON alone would lose (dicts
with non-``str`` keys, tuples, ``NaN``/``inf``, paths, dataclasses, ...). Nothing
is pickled, and loading never imports a module: classes (dataclasses, enums) are
only looked up among modules the program has already imported.

Use with Lightning
------------------
::

    from lightning.pytorch import Trainer
    from lightning.pytorch.callbacks import ModelCheckpoint
    from affectkit.training.checkpoint_io import SafetensorsCheckpointIO

    ckpt = ModelCheckpoint(dirpath="runs/x", monitor="val_loss", save_last=True)
    ckpt.FILE_EXTENSION = ".safetensors"  # else the files are named *.ckpt
    trainer = Trainer(plugins=[SafetensorsCheckpointIO()], callbacks=[ckpt])
    trainer.fit(module, ckpt_path="last")  # or "runs/x/last.safetensors"

``FILE_EXTENSION`` (a class attribute of ``ModelCheckpoint``) can be set on the
instance as above or in a subclass; ``ckpt_path="last"`` then finds
``last.safetensors``. The plugin does not look at the extension: a ``*.ckpt``
name would also work, but such a file is not a pickle and ``torch.load`` refuses it.

``LightningModule.load_from_checkpoint`` bypasses ``CheckpointIO`` plugins (it
calls ``torch.load``); load the weights with :func:`load_state` instead::

    ckpt = load_state("runs/x/last.safetensors")
    module = MyModule(**ckpt["hyper_parameters"])
    module.load_state_dict(ckpt["state_dict"])
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import enum
import json
import math
import os
import pathlib
import sys
import uuid
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
from lightning.fabric.utilities.data import AttributeDict as _FabricAttributeDict
from lightning.pytorch.plugins.io import CheckpointIO
from lightning.pytorch.utilities.parsing import AttributeDict as _PLAttributeDict
from safetensors import safe_open
from safetensors.torch import save_file

__all__ = ["SafetensorsCheckpointIO", "load_state", "save_state"]

#: Header metadata key holding the JSON skeleton.
SKELETON_KEY = "affectkit_state"
#: Header metadata key holding the skeleton format version.
FORMAT_KEY = "affectkit_state_format"
FORMAT_VERSION = "1"

_TAG = "$t"  # every JSON object in the skeleton is a tagged node; lists are lists
_PATH_TYPES = {
    "Path": pathlib.Path,
    "PurePath": pathlib.PurePath,
    "PurePosixPath": pathlib.PurePosixPath,
    "PureWindowsPath": pathlib.PureWindowsPath,
}


# --------------------------------------------------------------------------- encode


class _Encoder:
    """Splits an object tree into a JSON skeleton and a flat ``name -> tensor`` dict."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.tensors: dict[str, torch.Tensor] = {}
        self._names_by_id: dict[int, str] = {}
        self._storages: set[tuple[str, int]] = set()
        self._active: set[int] = set()  # containers on the current path (cycle check)
        # keeps the encoded tensors alive, so that the ids in _names_by_id are not reused
        self._keep: list[Any] = []

    # -- errors
    def _where(self, path: tuple[str, ...]) -> str:
        return self.root + "".join(path)

    def _unsupported(self, obj: Any, path: tuple[str, ...], why: str = "") -> TypeError:
        kind = f"{type(obj).__module__}.{type(obj).__qualname__}"
        return TypeError(
            f"cannot store {kind} at {self._where(path)}{': ' + why if why else ''}. Safetensors "
            "checkpoints hold tensors, numpy arrays/scalars, None, bool, int, float, str, bytes, "
            "list, tuple, set, dict, OrderedDict, Counter, pathlib paths, enums, dataclasses, "
            "argparse.Namespace and AttributeDict (no pickling). Convert the value, or keep it "
            "out of the checkpoint (e.g. save_hyperparameters(ignore=[...]))."
        )

    # -- tensors
    def _tensor_name(self, path: tuple[str, ...]) -> str:
        parts = []
        for p in path:  # "['a']" -> "a", "[0]" -> "0", ".field" -> "field"
            if p.startswith("[") and p.endswith("]"):
                inner = p[1:-1]
                if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                    inner = inner[1:-1]
                parts.append(inner)
            else:
                parts.append(p.lstrip("."))
        base = "/".join(parts) or "root"
        name, n = base, 1
        while name in self.tensors:
            name, n = f"{base}#{n}", n + 1
        return name

    def _add_tensor(self, t: torch.Tensor, path: tuple[str, ...]) -> str:
        name = self._tensor_name(path)
        if t.numel():
            # safetensors refuses two entries on one storage (views, tied weights
            # saved as separate tensors); a clone gives the later one its own.
            storage = (str(t.device), t.untyped_storage().data_ptr())
            if storage in self._storages:
                t = t.clone()
                storage = (str(t.device), t.untyped_storage().data_ptr())
            self._storages.add(storage)
        self.tensors[name] = t
        return name

    def _encode_tensor(self, obj: torch.Tensor, path: tuple[str, ...]) -> dict:
        if type(obj) not in (torch.Tensor, torch.nn.Parameter):
            raise self._unsupported(obj, path, "tensor subclasses are not supported")
        if obj.layout != torch.strided or obj.is_quantized or obj.device.type == "meta":
            raise self._unsupported(obj, path, f"{obj.layout} {obj.device.type} tensors have no data to store")
        node: dict[str, Any] = {_TAG: "tensor"}
        if id(obj) in self._names_by_id:  # the same tensor object twice: store once, share on load
            node["k"] = self._names_by_id[id(obj)]
        else:
            data = obj.detach().resolve_conj().resolve_neg()
            data = data.to("cpu").contiguous()  # no copy when already CPU and contiguous
            node["k"] = self._names_by_id[id(obj)] = self._add_tensor(data, path)
            self._keep.append(obj)
        if obj.device.type != "cpu":
            node["dev"] = str(obj.device)  # for dict/callable map_location
        if isinstance(obj, torch.nn.Parameter):
            node["param"] = True
        if obj.requires_grad:
            node["rg"] = True
        return node

    def _encode_numpy(self, obj: np.ndarray | np.generic, path: tuple[str, ...]) -> dict:
        arr = np.asarray(obj)
        try:
            # torch.from_numpy needs native byte order; the original dtype is restored on load
            native = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C", copy=True)
            t = torch.from_numpy(native)
        except (TypeError, ValueError) as exc:
            raise self._unsupported(obj, path, f"numpy dtype {arr.dtype} has no tensor equivalent") from exc
        tag = "npscalar" if isinstance(obj, np.generic) else "ndarray"
        return {_TAG: tag, "k": self._add_tensor(t, path), "dtype": arr.dtype.str}

    # -- containers
    def _encode_mapping(self, obj: Mapping, path: tuple[str, ...], tag: str) -> dict:
        if all(type(k) is str for k in obj):
            return {_TAG: tag, "d": {k: self.encode(v, (*path, f"[{k!r}]")) for k, v in obj.items()}}
        # JSON object keys are strings only: other keys (optimizer state uses ints) go in a pair list
        items = [[self.encode_key(k, path), self.encode(v, (*path, f"[{k!r}]"))] for k, v in obj.items()]
        return {_TAG: tag, "items": items}

    def encode_key(self, key: Any, path: tuple[str, ...]) -> Any:
        if isinstance(key, (torch.Tensor, np.ndarray)):
            raise self._unsupported(key, (*path, f"[{key!r}]"), "tensors cannot be dict keys")
        return self.encode(key, (*path, f"[{key!r}]"))

    def encode(self, obj: Any, path: tuple[str, ...] = ()) -> Any:
        """Return the JSON skeleton node of ``obj``; tensors are collected in ``self.tensors``."""
        kind = type(obj)
        # exact types only: a subclass (IntEnum, np.float64, ...) would come back as its base
        if obj is None or kind is bool or kind is int or kind is str:
            return obj
        if kind is float:
            if math.isfinite(obj):
                return obj  # json writes repr(), which round-trips exactly (incl. -0.0)
            return {_TAG: "float", "v": repr(obj)}  # "nan", "inf", "-inf": strict JSON has none
        if isinstance(obj, torch.Tensor):
            return self._encode_tensor(obj, path)
        # numpy scalars before enums/floats: np.float64 subclasses float
        if isinstance(obj, (np.ndarray, np.generic)):
            return self._encode_numpy(obj, path)
        if isinstance(obj, enum.Enum):
            return {_TAG: "enum", "cls": _class_ref(kind), "v": self.encode(obj.value, (*path, ".value"))}
        if kind is torch.dtype:
            return {_TAG: "dtype", "v": str(obj).removeprefix("torch.")}
        if kind is torch.device:
            return {_TAG: "device", "v": str(obj)}
        if kind is bytes:
            return {_TAG: "bytes", "v": base64.b64encode(obj).decode("ascii")}
        if isinstance(obj, pathlib.PurePath):
            name = "Path" if isinstance(obj, pathlib.Path) else kind.__name__
            if name not in _PATH_TYPES:
                raise self._unsupported(obj, path)
            return {_TAG: "path", "cls": name, "v": str(obj)}

        # containers: guard against reference cycles, which would recurse forever
        if id(obj) in self._active:
            raise ValueError(f"reference cycle at {self._where(path)}: checkpoints must be trees")
        self._active.add(id(obj))
        try:
            return self._encode_container(obj, path)
        finally:
            self._active.discard(id(obj))

    def _encode_container(self, obj: Any, path: tuple[str, ...]) -> Any:
        kind = type(obj)
        if kind is list:
            return [self.encode(v, (*path, f"[{i}]")) for i, v in enumerate(obj)]
        if kind is tuple or kind is torch.Size:
            tag = "tuple" if kind is tuple else "size"
            return {_TAG: tag, "v": [self.encode(v, (*path, f"[{i}]")) for i, v in enumerate(obj)]}
        if kind is set or kind is frozenset:
            return {_TAG: kind.__name__, "v": [self.encode_key(v, path) for v in obj]}
        if kind is dict:
            return self._encode_mapping(obj, path, "dict")
        if kind is Counter:  # MultiStepLR keeps its milestones in one
            return self._encode_mapping(obj, path, "counter")
        if kind is OrderedDict:
            node = self._encode_mapping(obj, path, "odict")
            # module.state_dict() carries per-module versions in ._metadata; torch.save keeps it
            meta = getattr(obj, "_metadata", None)
            if meta is not None:
                node["meta"] = self.encode(meta, (*path, "._metadata"))
            return node
        if kind is _PLAttributeDict or kind is _FabricAttributeDict:
            node = self._encode_mapping(obj, path, "attrdict")
            node["cls"] = "fabric" if kind is _FabricAttributeDict else "pytorch"
            return node
        if kind is argparse.Namespace:
            return {_TAG: "namespace", "d": {k: self.encode(v, (*path, f".{k}")) for k, v in vars(obj).items()}}
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            fields = {f.name: self.encode(getattr(obj, f.name), (*path, f".{f.name}")) for f in dataclasses.fields(obj)}
            return {_TAG: "dataclass", "cls": _class_ref(kind), "d": fields}
        raise self._unsupported(obj, path)


def _class_ref(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _find_class(ref: str) -> type | None:
    """Resolve ``"module:Qual.Name"`` among already-imported modules (importing could run code)."""
    module_name, _, qualname = ref.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


# --------------------------------------------------------------------------- decode


class _Decoder:
    def __init__(self, tensors: dict[str, torch.Tensor], map_location: Any) -> None:
        self.tensors = tensors
        self.map_location = map_location
        self._done: dict[str, Any] = {}  # name -> restored tensor, so shared tensors stay shared

    def _device(self, t: torch.Tensor, saved: str) -> torch.device | str:
        loc = self.map_location
        if loc is None:
            return "cpu"
        if isinstance(loc, (str, torch.device)):
            return loc
        if isinstance(loc, Mapping):  # torch.load semantics: unmapped locations stay where they were
            return loc.get(saved, saved)
        if callable(loc):  # torch.load semantics: fn(cpu storage, location) -> storage or None
            moved = loc(t.untyped_storage(), saved)
            return saved if moved is None else moved.device
        raise TypeError(f"unsupported map_location {loc!r}")

    def _tensor(self, node: dict) -> Any:
        name = node["k"]
        key = (name, node.get("param", False), node.get("rg", False))
        if key in self._done:
            return self._done[key]
        t = self._raw(name)
        t = t.to(self._device(t, node.get("dev", "cpu")))
        if node.get("param"):
            t = torch.nn.Parameter(t, requires_grad=node.get("rg", False))
        elif node.get("rg"):
            t.requires_grad_(True)
        self._done[key] = t
        return t

    def _raw(self, name: str) -> torch.Tensor:
        try:
            return self.tensors[name]
        except KeyError:
            raise ValueError(f"corrupt state file: skeleton refers to missing tensor {name!r}") from None

    def _numpy(self, node: dict) -> Any:
        arr = self._raw(node["k"]).numpy().astype(np.dtype(node["dtype"]), copy=False)
        return arr[()] if node[_TAG] == "npscalar" else arr

    def _mapping(self, node: dict, cls: type) -> Any:
        if "d" in node:
            out = cls((k, self.decode(v)) for k, v in node["d"].items())
        else:
            out = cls((self.decode(k), self.decode(v)) for k, v in node["items"])
        return out

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            return [self.decode(v) for v in node]
        tag = node.get(_TAG)
        if tag == "tensor":
            return self._tensor(node)
        if tag in ("ndarray", "npscalar"):
            return self._numpy(node)
        if tag == "dict":
            return self._mapping(node, dict)
        if tag == "counter":
            return self._mapping(node, Counter)
        if tag == "odict":
            out = self._mapping(node, OrderedDict)
            if "meta" in node:
                out._metadata = self.decode(node["meta"])  # type: ignore[attr-defined]
            return out
        if tag == "attrdict":
            return self._mapping(node, _FabricAttributeDict if node.get("cls") == "fabric" else _PLAttributeDict)
        if tag == "tuple":
            return tuple(self.decode(v) for v in node["v"])
        if tag == "size":
            return torch.Size(self.decode(v) for v in node["v"])
        if tag == "set":
            return {self.decode(v) for v in node["v"]}
        if tag == "frozenset":
            return frozenset(self.decode(v) for v in node["v"])
        if tag == "float":
            return float(node["v"])
        if tag == "bytes":
            return base64.b64decode(node["v"])
        if tag == "path":
            return _PATH_TYPES[node["cls"]](node["v"])
        if tag == "dtype":
            dtype = getattr(torch, node["v"], None)
            if not isinstance(dtype, torch.dtype):
                raise ValueError(f"corrupt state file: unknown torch dtype {node['v']!r}")
            return dtype
        if tag == "device":
            return torch.device(node["v"])
        if tag == "namespace":
            return argparse.Namespace(**{k: self.decode(v) for k, v in node["d"].items()})
        if tag == "enum":
            return self._enum(node)
        if tag == "dataclass":
            return self._dataclass(node)
        raise ValueError(f"corrupt or newer state file: unknown skeleton node {tag!r}")

    def _enum(self, node: dict) -> Any:
        value = self.decode(node["v"])
        cls = _find_class(node["cls"])
        if cls is None or not issubclass(cls, enum.Enum):
            warnings.warn(f"enum {node['cls']} is not imported; restoring its value {value!r}", stacklevel=4)
            return value
        return cls(value)

    def _dataclass(self, node: dict) -> Any:
        fields = {k: self.decode(v) for k, v in node["d"].items()}
        cls = _find_class(node["cls"])
        if cls is None or not dataclasses.is_dataclass(cls):
            warnings.warn(f"dataclass {node['cls']} is not imported; restoring its fields as a dict", stacklevel=4)
            return fields
        # like unpickling: set the stored fields without running __init__/__post_init__
        obj = cls.__new__(cls)
        for k, v in fields.items():
            object.__setattr__(obj, k, v)
        return obj


# --------------------------------------------------------------------------- file I/O


def _local_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    if "://" in path:
        raise ValueError(f"only local paths are supported, got {path!r}")
    return path


def _write(obj: Any, path: str | os.PathLike, root: str) -> None:
    path = _local_path(path)
    encoder = _Encoder(root)
    skeleton = encoder.encode(obj)  # before touching the disk: a TypeError leaves the old file
    metadata = {
        "format": "pt",
        FORMAT_KEY: FORMAT_VERSION,
        SKELETON_KEY: json.dumps(skeleton, allow_nan=False, ensure_ascii=False, separators=(",", ":")),
    }
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    # write next to the target, then rename: readers never see a half-written checkpoint
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{uuid.uuid4().hex}.tmp")
    try:
        save_file(encoder.tensors, tmp, metadata=metadata)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _reject_constant(name: str) -> Any:
    raise ValueError(f"corrupt state file: non-JSON constant {name} in skeleton")


def _read(path: str | os.PathLike, map_location: Any) -> Any:
    path = _local_path(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
    try:
        with safe_open(path, framework="pt", device="cpu") as f:
            metadata = f.metadata() or {}
            tensors = {name: f.get_tensor(name) for name in f.keys()}
    except Exception as exc:  # safetensors raises its own SafetensorError
        raise ValueError(f"{path} is not a safetensors file ({exc}); a Lightning .ckpt pickle?") from exc
    if SKELETON_KEY not in metadata:
        raise ValueError(
            f"{path} is a safetensors file without an affectkit state skeleton "
            "(use safetensors.torch.load_file for plain tensor files)"
        )
    if metadata.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported state format {metadata.get(FORMAT_KEY)!r}, expected {FORMAT_VERSION}")
    skeleton = json.loads(metadata[SKELETON_KEY], parse_constant=_reject_constant)
    return _Decoder(tensors, map_location).decode(skeleton)


def save_state(obj: Any, path: str | os.PathLike) -> None:
    """Save a tree of tensors and plain values as one safetensors file, without pickle.

    Stores every ``torch.Tensor`` (any dtype, e.g. bf16, int64; made contiguous and
    moved to CPU; ``nn.Parameter`` and ``requires_grad`` remembered) and every numpy
    array/scalar as a safetensors tensor, and the rest as a JSON skeleton in the
    header metadata. Supported values: ``None``, ``bool``, ``int``, ``float`` (incl.
    ``nan``/``inf``), ``str``, ``bytes``, ``list``, ``tuple``, ``torch.Size``,
    ``set``/``frozenset``, ``dict``/``OrderedDict`` with keys of any of these
    (``OrderedDict._metadata`` of module state dicts kept), ``AttributeDict``,
    ``argparse.Namespace``, dataclass instances, enum members, ``pathlib`` paths,
    ``torch.dtype`` and ``torch.device``. The same tensor object seen twice is
    stored once and shared again on load; distinct tensors sharing memory (views)
    are stored as separate copies. The file is written to a temporary file in the
    target folder (created if needed) and renamed over ``path``.

    Parameters
    ----------
    obj : Any
        The object tree (a Lightning checkpoint dict, an optimizer state dict, ...).
    path : str or os.PathLike
        Local file to write, conventionally ``*.safetensors``.

    Raises
    ------
    TypeError
        If a value has an unsupported type (say a function, a module or an arbitrary
        object); the message names its key path, e.g. ``state['hyper_parameters']['act']``.
        Nothing is written.
    ValueError
        If ``obj`` contains a reference cycle, or ``path`` is a URL.
    """
    _write(obj, path, root="state")


def load_state(path: str | os.PathLike, map_location: Any = None) -> Any:
    """Load an object tree written by :func:`save_state` or :class:`SafetensorsCheckpointIO`.

    Never unpickles or imports anything. Dataclasses and enums are rebuilt only if
    their class is in an already-imported module (dataclasses like unpickling,
    without calling ``__init__``); otherwise a dataclass comes back as a ``dict`` of
    its fields and an enum as its value, with a ``UserWarning``.

    Parameters
    ----------
    path : str or os.PathLike
        Local safetensors file.
    map_location : None, str, torch.device, dict or callable, optional
        Where tensors go. ``None`` (default): CPU. A device: all tensors there. A
        dict or a callable ``fn(storage, location)``: as in ``torch.load``, applied
        to the device each tensor was saved from. Numpy values are always on CPU.

    Returns
    -------
    Any
        The restored object tree.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If the file is not a safetensors file, has no affectkit state skeleton
        (plain tensor files: use ``safetensors.torch.load_file``), or is corrupt.
    """
    return _read(path, map_location)


class SafetensorsCheckpointIO(CheckpointIO):
    """Lightning ``CheckpointIO`` plugin that writes checkpoints as safetensors, not pickles.

    Pass it to ``Trainer(plugins=[SafetensorsCheckpointIO()])``; the checkpoint
    dict (``state_dict``, ``optimizer_states``, ``lr_schedulers``, ``loops``,
    ``callbacks``, ``hyper_parameters``, ...) is stored as described in
    :func:`save_state` and restored exactly for ``fit(ckpt_path=...)`` resume. Set
    ``ModelCheckpoint.FILE_EXTENSION = ".safetensors"`` (on the instance or a
    subclass) so that the files, including ``last``, get that extension.
    Only local paths are supported.
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        """Write ``checkpoint`` to ``path`` atomically, creating parent folders.

        Parameters
        ----------
        checkpoint : dict
            The Lightning checkpoint dict.
        path : str or os.PathLike
            Target file.
        storage_options : None
            Not supported, as in ``TorchCheckpointIO``.

        Raises
        ------
        TypeError
            If ``storage_options`` is given, or a value in the checkpoint cannot be
            stored (the message names its key path, e.g.
            ``checkpoint['hyper_parameters']['loss_fn']``).
        ValueError
            If the checkpoint contains a reference cycle, or ``path`` is a URL.
        """
        if storage_options is not None:
            raise TypeError(f"`storage_options` is not supported by {type(self).__name__}")
        _write(checkpoint, path, root="checkpoint")

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | str | torch.device | dict | None = None,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        """Read a checkpoint written by :meth:`save_checkpoint`.

        Parameters
        ----------
        path : str or os.PathLike
            Checkpoint file.
        map_location : optional
            As in :func:`load_state`; ``None`` (what Lightning passes) loads on CPU,
            like ``TorchCheckpointIO``.
        weights_only : bool, optional
            Ignored: loading never unpickles, so it is always as safe as
            ``torch.load(weights_only=True)``.

        Returns
        -------
        dict
            The checkpoint dict.

        Raises
        ------
        FileNotFoundError
            If ``path`` does not exist.
        ValueError
            If the file is not a checkpoint written by this plugin (e.g. a pickled ``.ckpt``).
        """
        del weights_only  # nothing is unpickled, whatever the caller asks
        return _read(path, map_location)

    def remove_checkpoint(self, path: Any) -> None:
        """Delete the checkpoint file at ``path`` if it exists (ModelCheckpoint's top-k pruning)."""
        path = _local_path(path)
        if os.path.isfile(path) or os.path.islink(path):
            os.remove(path)


def best_and_last_checkpoint(ckpt_dir: str | os.PathLike, monitor: str | None) -> list:
    """Checkpoint callbacks writing ``last.safetensors`` every epoch (for resuming) and
    ``best.safetensors`` at the highest ``monitor`` value (when given).

    Two callbacks, because Lightning >= 2.6's ``save_last`` writes ``last`` only in an
    epoch whose monitored checkpoint was saved too: a run that stopped after epochs
    that did not improve would resume from its best epoch and train those epochs again.
    The ``last`` callback comes after the ``best`` one, so ``last`` holds the best score so far.
    Used with :class:`SafetensorsCheckpointIO`, which writes the files.

    Parameters
    ----------
    ckpt_dir : str or PathLike
        Folder of the checkpoints.
    monitor : str or None
        Logged metric to maximise (e.g. ``"val/score"``); None keeps only ``last``.

    Returns
    -------
    list of lightning.pytorch.callbacks.ModelCheckpoint
        ``[best, last]``, or ``[last]`` without ``monitor``.
    """
    from lightning.pytorch.callbacks import ModelCheckpoint

    last = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1, save_last=False,
                           enable_version_counter=False)
    last.FILE_EXTENSION = ".safetensors"
    if monitor is None:
        return [last]
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max", save_last=False,
                           save_top_k=1, enable_version_counter=False)
    best.FILE_EXTENSION = ".safetensors"
    return [best, last]
