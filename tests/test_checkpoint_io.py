"""Safetensors Lightning checkpoints: exact round-trip, no pickle, and exact resume."""

from __future__ import annotations

import argparse
import copy
import enum
import json
import math
import struct
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
import torch
from safetensors import safe_open

from affectkit.training.checkpoint_io import (
    SKELETON_KEY,
    SafetensorsCheckpointIO,
    load_state,
    save_state,
)


@dataclass
class _Config:
    lr: float = 0.1
    dims: tuple = (3, 4)
    tags: list = field(default_factory=lambda: ["a"])


class _Mode(enum.Enum):
    FAST = "fast"


def _assert_same(a, b, where="obj"):
    """Deep equality that also checks types, dtypes, NaN and tensor bits."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, torch.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        bits = lambda t: t.contiguous().reshape(-1).view(torch.uint8)  # noqa: E731 - NaN-safe, bit-exact
        assert torch.equal(bits(a), bits(b)), where
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), where
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), where
    else:
        assert a == b, where


def _nested() -> dict:
    base = torch.arange(12, dtype=torch.float32)
    tied = torch.randn(2, 3)
    return {
        "optimizer": {"state": {0: {"momentum_buffer": torch.randn(3)}, 1: {"step": torch.tensor(5.0)}},
                      "param_groups": [{"params": [0, 1], "lr": 0.1, "foreach": None, "nesterov": False}]},
        "floats": [float("nan"), float("inf"), -float("inf"), -0.0, 1e-310, 0.1],
        "ints": (0, -1, 2**70, True, False),
        "mixed_keys": {1: "a", "1": "b", 2.5: None, None: 1, (1, "x"): [], False: 0},
        "empty": ({}, [], ()),
        "bf16": torch.randn(4, 3).to(torch.bfloat16),
        "i64": torch.tensor([2**62, -(2**62)], dtype=torch.int64),
        "bool": torch.tensor([True, False]),
        "scalar_t": torch.tensor(3.5, dtype=torch.float64),
        "noncontig": torch.randn(3, 4).t(),
        # views of one storage: safetensors refuses them as they are
        "view_head": base[:4],
        "view_tail": base[4:],
        "view_all": base,
        "tied_a": tied,
        "tied_b": tied,
        "np_f64": np.linspace(0, 1, 5),
        "np_be": np.arange(6, dtype=">i4").reshape(2, 3),
        "np_bool": np.array([True, False]),
        "np_scalars": [np.float32(1.5), np.int64(-7), np.bool_(True), np.float64("nan")],
        "path": Path("/tmp/x/best.ckpt"),
        "pure_path": PurePosixPath("a/b"),
        "bytes": b"\x00\x80\xff",
        "set": {1, 2, 3},
        "dtype": torch.bfloat16,
        "device": torch.device("cpu"),
        "hparams": {"cfg": _Config(), "ns": argparse.Namespace(a=1, b=(2,)), "mode": _Mode.FAST},
        "state_dict": torch.nn.Linear(3, 2).state_dict(),
        "empty_t": torch.zeros(0, 3),
        "param": torch.nn.Parameter(torch.ones(2)),
    }


def test_round_trip_exact(tmp_path):
    from lightning.pytorch.utilities.parsing import AttributeDict

    obj = _nested()
    obj["hparams"]["attr"] = AttributeDict(x=1)
    path = tmp_path / "deep" / "folder" / "state.safetensors"  # parent folders get created
    save_state(obj, path)
    out = load_state(path)

    _assert_same(obj, out)
    assert out["hparams"]["cfg"] == _Config()
    assert type(out["hparams"]["attr"]) is AttributeDict
    assert vars(out["hparams"]["ns"]) == {"a": 1, "b": (2,)}
    assert out["hparams"]["mode"] is _Mode.FAST
    assert math.copysign(1.0, out["floats"][3]) == -1.0
    assert out["state_dict"]._metadata == obj["state_dict"]._metadata  # module versions kept
    assert out["tied_a"] is out["tied_b"]  # one object saved twice stays one
    assert isinstance(out["param"], torch.nn.Parameter) and out["param"].requires_grad
    assert out["np_be"].dtype == np.dtype(">i4")
    assert list(tmp_path.joinpath("deep", "folder").iterdir()) == [path]  # no temp file left


def test_file_is_plain_safetensors_without_pickle(tmp_path):
    obj = _nested()
    path = tmp_path / "state.safetensors"
    save_state(obj, path)

    with safe_open(str(path), framework="pt") as f:
        names = set(f.keys())
        skeleton = f.metadata()[SKELETON_KEY]
        assert torch.equal(f.get_tensor("state_dict/weight"), obj["state_dict"]["weight"])
    assert {"bf16", "i64", "view_head", "view_tail", "view_all", "tied_a", "np_be"} <= names
    assert "tied_b" not in names
    json.loads(skeleton, parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))

    # The file is exactly an 8-byte length, a JSON header and raw tensor bytes: no room for a pickle.
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
    assert 8 + n + max(ends) == len(raw)
    assert not raw.startswith(b"PK")  # torch.save's zip container


def test_unsupported_value_names_key_path(tmp_path):
    path = tmp_path / "state.safetensors"
    save_state({"ok": 1}, path)
    before = path.read_bytes()

    with pytest.raises(TypeError, match=r"state\['hparams'\]\['layers'\]\[1\]\['act'\]"):
        save_state({"hparams": {"layers": [{}, {"act": torch.nn.ReLU()}]}}, path)
    with pytest.raises(TypeError, match=r"checkpoint\['hyper_parameters'\]\['fn'\]"):
        SafetensorsCheckpointIO().save_checkpoint({"hyper_parameters": {"fn": lambda x: x}}, path)
    with pytest.raises(TypeError, match=r"state\['a'\]\.x"):
        save_state({"a": argparse.Namespace(x=object())}, path)
    with pytest.raises(TypeError, match=r"numpy dtype"):
        save_state({"a": np.array(["text"])}, path)

    assert path.read_bytes() == before  # a failed save leaves the old file alone
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.safetensors"]


def test_plugin_load_errors_and_remove(tmp_path):
    io = SafetensorsCheckpointIO()
    with pytest.raises(FileNotFoundError):
        io.load_checkpoint(tmp_path / "missing.safetensors")
    pickled = tmp_path / "old.ckpt"
    torch.save({"a": 1}, pickled)
    with pytest.raises(ValueError, match="not a safetensors file"):
        io.load_checkpoint(pickled)
    with pytest.raises(TypeError, match="storage_options"):
        io.save_checkpoint({}, tmp_path / "x.safetensors", storage_options={"a": 1})

    path = tmp_path / "c.safetensors"
    io.save_checkpoint({"w": torch.ones(2)}, path)
    assert io.load_checkpoint(path, map_location={"cpu": "meta"})["w"].device.type == "meta"
    io.remove_checkpoint(path)
    assert not path.exists()
    io.remove_checkpoint(path)  # already gone: no error


def test_unknown_dataclass_falls_back_to_dict(tmp_path, monkeypatch):
    path = tmp_path / "s.safetensors"
    monkeypatch.setattr(_Config, "__module__", "not_imported_module")  # as on a machine without the code
    save_state({"cfg": _Config()}, path)
    with pytest.warns(UserWarning, match="not imported"):
        out = load_state(path)
    assert out["cfg"] == {"lr": 0.1, "dims": (3, 4), "tags": ["a"]}


# --------------------------------------------------------------------------- Lightning


def _lightning_run(root: Path, max_epochs: int, ckpt_path=None, probe=None):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from torch.utils.data import DataLoader, TensorDataset

    class Regression(L.LightningModule):
        def __init__(self, lr: float = 0.05, cfg: _Config | None = None):
            super().__init__()
            self.save_hyperparameters()
            self.net = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))

        def training_step(self, batch, _):
            x, y = batch
            loss = torch.nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def configure_optimizers(self):
            opt = torch.optim.SGD(self.parameters(), lr=self.hparams.lr, momentum=0.9)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)}

    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 5, generator=g)
    y = x @ torch.randn(5, 1, generator=g) + 0.1 * torch.randn(64, 1, generator=g)
    data = TensorDataset(x, y)
    L.seed_everything(0, verbose=False)
    module = Regression(cfg=_Config())
    ckpt = ModelCheckpoint(dirpath=root, monitor="val_loss", save_last=True, filename="{epoch}")
    ckpt.FILE_EXTENSION = ".safetensors"
    stop = EarlyStopping(monitor="val_loss", patience=10)
    trainer = L.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        devices=1,
        default_root_dir=root,
        plugins=[SafetensorsCheckpointIO()],
        callbacks=[ckpt, stop] + ([probe] if probe else []),
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*small number of batches.*")
        train = DataLoader(data, batch_size=16, shuffle=False)
        trainer.fit(module, train, DataLoader(data, batch_size=32), ckpt_path=ckpt_path)
    return trainer, module


def test_lightning_resume_matches_uninterrupted_run(tmp_path):
    import lightning as L

    full_trainer, full = _lightning_run(tmp_path / "full", max_epochs=4)

    first_trainer, _ = _lightning_run(tmp_path / "part", max_epochs=2)
    last = tmp_path / "part" / "last.safetensors"
    assert last.is_file() and (tmp_path / "part" / "epoch=1.safetensors").is_file()
    assert not list((tmp_path / "part").glob("*.ckpt"))
    saved_opt = copy.deepcopy(first_trainer.optimizers[0].state_dict())
    saved_sched = first_trainer.lr_scheduler_configs[0].scheduler.state_dict()
    saved_stop = first_trainer.early_stopping_callback.state_dict()

    stored = load_state(last)
    assert stored["epoch"] == 1 and stored["global_step"] == 8
    assert stored["hyper_parameters"]["cfg"] == _Config()
    _assert_same(saved_opt, stored["optimizer_states"][0], "optimizer_states[0]")

    restored: dict = {}

    class Probe(L.Callback):
        def on_train_start(self, trainer, pl_module):  # after Lightning restored the checkpoint
            restored["opt"] = copy.deepcopy(trainer.optimizers[0].state_dict())
            restored["sched"] = trainer.lr_scheduler_configs[0].scheduler.state_dict()
            restored["stop"] = trainer.early_stopping_callback.state_dict()
            restored["epoch"] = trainer.current_epoch
            restored["ckpt_path"] = trainer.ckpt_path

    resumed_trainer, resumed = _lightning_run(tmp_path / "part", max_epochs=4, ckpt_path="last", probe=Probe())
    assert Path(restored["ckpt_path"]) == last  # "last" found last.safetensors
    assert restored["epoch"] == 2
    # momentum buffers (int-keyed optimizer state), scheduler and EarlyStopping state survived the file
    _assert_same(saved_opt, restored["opt"], "restored optimizer")
    assert set(restored["opt"]["state"]) == {0, 1, 2, 3}
    assert all(torch.count_nonzero(s["momentum_buffer"]) for s in restored["opt"]["state"].values())
    _assert_same(saved_sched, restored["sched"], "restored scheduler")
    _assert_same(saved_stop, restored["stop"], "restored EarlyStopping")

    assert resumed_trainer.global_step == full_trainer.global_step == 16
    for (name, p_full), p_res in zip(full.named_parameters(), resumed.parameters()):
        assert torch.allclose(p_full, p_res, rtol=0, atol=1e-7), name
    assert resumed_trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(0.05 * 0.7**4)
