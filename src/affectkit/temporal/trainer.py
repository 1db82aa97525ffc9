"""Training temporal models on sequence datasets, and their model files.

A :class:`TemporalNet` is a temporal model (:mod:`affectkit.temporal.models`) with the
input standardisation learnt on the training frames and the output for its task:
clip-level expression logits (``classes``) or valence/arousal in [-1, 1] per step
and per clip (``va``). :func:`fit_temporal` trains one with Lightning and exports it
as ``.safetensors`` plus a JSON card that records the embedding and the frame
sampling, so :func:`load_temporal` can run it on new videos the same way.

Losses: cross-entropy on the clip logits; for valence/arousal ``(1 - CCC) + MSE``
over all rated steps of a batch, per dimension (Jin et al. 2019 train on CCC; the MSE
term keeps the scale right when a batch's ratings barely vary). Models without
per-step outputs (C3D) regress the clip's mean rating.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Sequence

import lightning as L
import numpy as np
import torch
from torch import nn

from affectkit.errors import reject_unknown
from affectkit.io.write import jsonable
from affectkit.temporal.models import TEMPORAL_MODELS, create_temporal_model
from affectkit.temporal.scoring import score_sequences
from affectkit.temporal.sequences import SequenceSet, pad_batch, resample_steps
from affectkit.training.engine import fit

TASKS = ("classes", "va")

RUN_OPTIONS = ("data", "test_data", "train_split", "val_split", "test_split", "protocol", "seeds", "out",
               "detector", "crop")
"""Keys of a temporal options dict that are the experiment's, not :class:`TemporalConfig`'s
(:func:`affectkit.temporal.experiment.run_from_options` reads them);
:meth:`TemporalConfig.from_dict` skips them and refuses any other unknown key."""


@dataclass
class TemporalConfig:
    """Options of one temporal training run.

    Attributes
    ----------
    model : str
        One of :data:`~affectkit.temporal.models.TEMPORAL_MODELS`.
    task : {"classes", "va"}
        Clip expression classes, or per-step valence/arousal.
    embedding : str
        Per-frame embedding spec (:mod:`affectkit.temporal.embed`); ``crops`` for C3D.
    rate, count : float or None, int or None
        Frame sampling for videos: frames per second (Jin et al.: 2) or per clip
        (Ouyang et al.: 16).
    face_size : int
        Side, pixels, of the face crops read from videos.
    c3d_frames, c3d_size : int
        C3D input: frames per clip and crop side, pixels.
    hidden : int
        Hidden size of the recurrent cell / Transformer width.
    n_chunks : int
        Frame selection: chunks per sequence (Vielzeuf et al. 2018).
    pooling : {"mean", "learned"}
        Frame selection pooling.
    epochs, batch_size, lr, weight_decay, seed : training options (AdamW).
    max_steps_per_epoch : int or None
        Cap for quick runs.
    """

    model: str = "lstm"
    task: str = "classes"
    embedding: str = "emotion"
    rate: float | None = 2.0
    count: int | None = None
    face_size: int = 64
    c3d_frames: int = 16
    c3d_size: int = 32
    hidden: int = 128
    n_chunks: int = 4
    pooling: str = "learned"
    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 0
    max_steps_per_epoch: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in TEMPORAL_MODELS:
            raise ValueError(f"temporal model must be one of {', '.join(TEMPORAL_MODELS)}, got {self.model!r}")
        if self.task not in TASKS:
            raise ValueError(f"temporal task must be one of {TASKS}, got {self.task!r}")
        if self.model == "c3d" and self.embedding != "crops":
            raise ValueError("c3d runs on the face crops themselves; use embedding 'crops'")
        if self.model != "c3d" and self.embedding == "crops":
            raise ValueError(f"{self.model} runs on per-frame embeddings, not crops; choose e.g. 'emotion'")

    @classmethod
    def from_dict(cls, d: dict, *, ignore: Sequence[str] = RUN_OPTIONS) -> "TemporalConfig":
        """Build from a dict (a YAML config, command-line options, a model card's ``config``).

        Parameters
        ----------
        d : dict
            :class:`TemporalConfig` fields, and possibly keys of ``ignore``.
        ignore : sequence of str
            Keys that belong to the caller, not to the config, and are skipped:
            by default :data:`RUN_OPTIONS` (the experiment's data, splits, protocol,
            seeds, output folder and face detection).

        Raises
        ------
        OptionError
            For any other key, naming it (a ``ValueError``); a mistyped option is never
            silently dropped.
        ValueError
            For invalid values (see the class).
        """
        fields = cls.__dataclass_fields__
        reject_unknown([k for k in d if k not in ignore], fields, "temporal option")
        return cls(**{k: v for k, v in d.items() if k in fields})


def _model_kwargs(cfg: TemporalConfig, input_dim: int, num_outputs: int) -> dict:
    if cfg.model == "c3d":
        return {"in_channels": 1, "num_outputs": num_outputs, "width": max(8, cfg.hidden // 8)}
    kw = {"input_dim": input_dim, "num_outputs": num_outputs}
    if cfg.model in ("lstm", "gru"):
        kw["hidden"] = cfg.hidden
    elif cfg.model == "selection":
        kw.update(n_chunks=cfg.n_chunks, pooling=cfg.pooling)
    elif cfg.model == "transformer_lstm":
        kw.update(d_model=cfg.hidden, lstm_hidden=max(16, cfg.hidden // 2))
    return kw


class TemporalNet(nn.Module):
    """A temporal model with input standardisation and task outputs.

    Parameters
    ----------
    model_name : str
        One of :data:`~affectkit.temporal.models.TEMPORAL_MODELS`.
    model_kwargs : dict
        Constructor arguments (from :func:`_model_kwargs` or a card).
    task : {"classes", "va"}
    input_dim : int
        Embedding size ``D`` (1 for C3D, which standardises pixel values).

    Notes
    -----
    ``forward(x, mask)`` takes ``(B, T, D)`` float embeddings and a ``(B, T)`` bool
    mask (C3D: ``(B, 1, T, H, W)`` crops in [0, 1], no mask) and returns ``clip``
    ``(B, K)`` (logits, or valence/arousal through tanh) and, except for C3D,
    ``steps`` ``(B, T, K)``.
    """

    def __init__(self, model_name: str, model_kwargs: dict, task: str, input_dim: int):
        super().__init__()
        self.model_name, self.task = model_name, task
        self.model = create_temporal_model(model_name, **model_kwargs)
        self.register_buffer("mean", torch.zeros(input_dim))
        self.register_buffer("std", torch.ones(input_dim))

    def set_standardisation(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Store the training frames' per-dimension mean and std (``(D,)``)."""
        self.mean.copy_(torch.as_tensor(mean, dtype=torch.float32))
        self.std.copy_(torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        if self.model_name == "c3d":
            out = self.model((x - self.mean) / self.std)
        else:
            out = self.model((x - self.mean) / self.std, mask)
        if self.task == "va":
            out = {k: torch.tanh(v) for k, v in out.items()}
            if "steps" in out and mask is not None:
                out["steps"] = out["steps"] * mask.unsqueeze(-1)
        return out


def c3d_input(crops: list[np.ndarray], frames: int, size: int) -> torch.Tensor:
    """Stack grey crops into C3D's ``(B, 1, frames, size, size)`` float input in [0, 1].

    Each sequence is resampled to ``frames`` steps (:func:`resample_steps`) and each
    crop resized to ``size`` pixels (area interpolation).
    """
    import cv2

    out = np.empty((len(crops), 1, frames, size, size), dtype=np.float32)
    for b, seq in enumerate(crops):
        for j, i in enumerate(resample_steps(len(seq), frames)):
            out[b, 0, j] = cv2.resize(seq[i], (size, size), interpolation=cv2.INTER_AREA) / 255.0
    return torch.from_numpy(out)


def make_batch(net_cfg: dict, seqs: SequenceSet, idx: list[int]) -> dict[str, torch.Tensor]:
    """The model input (and targets) of sequences ``idx``.

    Returns
    -------
    dict
        ``x``, ``mask`` (None for C3D), ``y`` ``(B,)`` int64 clip labels, ``va``
        ``(B, T, 2)`` per-step targets (NaN where unrated or padded), ``va_clip``
        ``(B, 2)`` mean rating of each clip.
    """
    va = [seqs.va[i] for i in idx]
    if net_cfg["model"] == "c3d":
        batch = {"x": c3d_input([seqs.x[i] for i in idx], net_cfg["c3d_frames"], net_cfg["c3d_size"]), "mask": None,
                 "va": pad_batch([np.zeros((len(v), 1), np.float32) for v in va], va=va)["va"]}
    else:
        batch = pad_batch([seqs.x[i] for i in idx], va=va)
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN clips give NaN, which the loss skips
            batch["va_clip"] = torch.from_numpy(np.stack([np.nanmean(v, axis=0) for v in va]).astype(np.float32))
    batch["y"] = torch.from_numpy(seqs.labels[idx])
    return batch


def _va_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
    """``(1 - CCC) + MSE`` per dimension over rated entries; None when nothing is rated."""
    from affectkit.evaluation.metrics import ccc_loss

    losses = []
    for k in range(2):
        p, t = pred[..., k].reshape(-1), target[..., k].reshape(-1)
        ok = torch.isfinite(t)
        if ok.sum() >= 2:
            losses.append(ccc_loss(p[ok][:, None], t[ok][:, None]) + torch.mean((p[ok] - t[ok]) ** 2))
    return torch.stack(losses).mean() if losses else None


def temporal_loss(net: TemporalNet, batch: dict) -> torch.Tensor:
    """The training loss of one batch (see the module docstring)."""
    out = net(batch["x"], batch["mask"])
    if net.task == "classes":
        return nn.functional.cross_entropy(out["clip"], batch["y"])
    if "steps" in out:
        loss = _va_loss(out["steps"], batch["va"])
    else:
        loss = _va_loss(out["clip"], batch["va_clip"])
    return loss if loss is not None else out["clip"].sum() * 0.0


def batch_outputs(net: TemporalNet, batch: dict, lengths: list[int]) -> tuple[torch.Tensor, list[np.ndarray]]:
    """Clip outputs and per-step outputs of one batch, in the task's output form.

    Parameters
    ----------
    net : TemporalNet
    batch : dict
        From :func:`make_batch`.
    lengths : list of int
        The sequences' step counts (padding is cut off).

    Returns
    -------
    clip : torch.Tensor
        ``(B, K)`` ``float32`` on the CPU: class probabilities (``classes``) or
        valence/arousal in [-1, 1].
    steps : list of np.ndarray
        ``B`` arrays ``(T_i, K)`` ``float32``; models without per-step outputs (C3D)
        repeat the clip value.
    """
    device = net.mean.device
    mask = batch["mask"].to(device) if batch["mask"] is not None else None
    out = {k: v.cpu() for k, v in net(batch["x"].to(device), mask).items()}
    per_step = out.get("steps")
    if net.task == "classes":
        per_step = torch.softmax(per_step, -1) if per_step is not None else None
        clip = torch.softmax(out["clip"], 1)
    else:
        clip = out["clip"]
    clip = clip.float()
    steps = [(per_step[j, :t] if per_step is not None else clip[j : j + 1].expand(t, -1)).numpy().astype(np.float32)
             for j, t in enumerate(lengths)]
    return clip, steps


def _standardisation(train: SequenceSet, model: str) -> tuple[np.ndarray, np.ndarray]:
    if model == "c3d":
        pix = np.concatenate([s.reshape(-1) for s in train.x]).astype(np.float32) / 255.0
        return np.array([pix.mean()]), np.array([pix.std()])
    frames = np.concatenate(train.x).astype(np.float64)
    return frames.mean(0), frames.std(0)


def build_net(cfg: TemporalConfig, input_dim: int, num_outputs: int) -> TemporalNet:
    """A fresh :class:`TemporalNet` for ``cfg``."""
    torch.manual_seed(cfg.seed)
    dim = 1 if cfg.model == "c3d" else input_dim
    return TemporalNet(cfg.model, _model_kwargs(cfg, input_dim, num_outputs), cfg.task, dim)


def fit_temporal(
    train: SequenceSet,
    out_dir: str | Path,
    cfg: TemporalConfig,
    *,
    val: SequenceSet | None = None,
    resume: bool = True,
    progress: bool = False,
    recipe: dict | None = None,
) -> Path:
    """Train a temporal model on embedded sequences and export it.

    Parameters
    ----------
    train : SequenceSet
        Embedded sequences ``(T_i, D)`` ``float32`` (crops ``(T_i, S, S)`` for C3D)
        with clip labels (``classes``) or per-step valence/arousal (``va``).
    out_dir : str or Path
        Run folder: ``checkpoints/last.safetensors`` (resume), CSV logs and the exported
        ``model.safetensors`` + ``model.json``.
    cfg : TemporalConfig
    val : SequenceSet, optional
        Scored every epoch (accuracy, or mean per-sequence CCC); the best epoch is
        exported. Without it, the last epoch is.
    resume : bool
        Continue from ``checkpoints/last.safetensors`` when it exists.
    progress : bool
        Lightning's progress bar.
    recipe : dict, optional
        Provenance for the card (data, command).

    Returns
    -------
    Path
        The exported ``model.safetensors``.

    Raises
    ------
    ValueError
        If ``train`` lacks the labels ``cfg.task`` needs, or holds the wrong content.
    """
    if cfg.task == "classes" and not train.has_labels:
        raise ValueError(f"{train.meta.get('root', 'training data')}: task 'classes' needs clip labels, and there are none")
    if cfg.task == "va" and not train.has_va:
        raise ValueError(f"{train.meta.get('root', 'training data')}: task 'va' needs valence/arousal ratings, and there are none")
    if (cfg.model == "c3d") != (train.content == "crops"):
        raise ValueError(f"model {cfg.model} cannot run on {train.content!r} sequences")
    if cfg.model == "c3d" and train.dim < cfg.c3d_size:
        cfg = replace(cfg, c3d_size=train.dim)  # never upsample crops: it only costs time
    if cfg.task == "classes":
        keep = np.flatnonzero(train.labels >= 0)
        train = train.subset(keep)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    num_outputs = len(train.class_names) if cfg.task == "classes" else 2
    net = build_net(cfg, train.dim, num_outputs)
    net.set_standardisation(*_standardisation(train, cfg.model))
    net_cfg = {"model": cfg.model, "c3d_frames": cfg.c3d_frames, "c3d_size": cfg.c3d_size}
    module = TemporalModule(net, cfg, val)
    g = torch.Generator().manual_seed(cfg.seed)
    loader = torch.utils.data.DataLoader(
        list(range(len(train))), batch_size=min(cfg.batch_size, len(train)), shuffle=True, generator=g,
        drop_last=len(train) > cfg.batch_size, collate_fn=partial(_indexed_batch, net_cfg, train),
    )
    val_loader = None
    if val is not None:
        val_loader = torch.utils.data.DataLoader(list(range(len(val))), batch_size=64,
                                                 collate_fn=partial(_indexed_batch, net_cfg, val))
    # The models are small: on a busy 2-core CPU, intra-op threads only added
    # synchronisation (an LSTM step took 0.77 s with 2 threads, 7 ms with 1; the C3D test
    # run 35 s against 20 s). On a GPU the thread count does not matter.
    result = fit(module, loader, out_dir, epochs=cfg.epochs, val_loader=val_loader, resume=resume,
                 max_steps_per_epoch=cfg.max_steps_per_epoch, threads=1, progress=progress, log_every_n_steps=1)
    card = {
        "kind": "temporal",
        "config": asdict(cfg),
        "classes": list(train.class_names),
        "input_dim": int(train.dim),
        "num_outputs": num_outputs,
        "model_kwargs": _model_kwargs(cfg, train.dim, num_outputs),
        "sampling": {"rate": cfg.rate, "count": cfg.count, "face_size": cfg.face_size,
                     **train.meta.get("sampling", {})},
        "training": {"train_data": jsonable(train.meta), "n_train": len(train),
                     "val_data": jsonable(val.meta) if val is not None else None,
                     "best_val": result.best_score,
                     **(recipe or {})},
    }
    return export_temporal(module.net.eval(), out_dir / "model.safetensors", card)


def _indexed_batch(net_cfg: dict, seqs: SequenceSet, idx: list[int]) -> dict:
    """:func:`make_batch` plus the sequences' indices and lengths (for validation)."""
    return {**make_batch(net_cfg, seqs, idx), "idx": list(idx), "lengths": [len(seqs.x[i]) for i in idx]}


class TemporalModule(L.LightningModule):
    """Lightning wrapper of a :class:`TemporalNet`: loss, AdamW, validation over a real loader.

    Validation batches come from a ``DataLoader`` over the validation sequences; the
    outputs are gathered and scored once per epoch (accuracy, or mean per-sequence
    CCC; :func:`~affectkit.temporal.scoring.score_sequences`), because per-sequence
    CCC is not an average over batches.

    Parameters
    ----------
    net : TemporalNet
    cfg : TemporalConfig
    val : SequenceSet, optional
        The validation sequences (their labels, for scoring).
    """

    def __init__(self, net: TemporalNet, cfg: TemporalConfig, val: SequenceSet | None = None):
        super().__init__()
        self.net, self.cfg, self.val = net, cfg, val
        self._clips: list[torch.Tensor] = []
        self._steps: list[np.ndarray] = []

    def training_step(self, batch, _):
        loss = temporal_loss(self.net, batch)
        self.log("train/loss", loss, prog_bar=True, batch_size=len(batch["y"]))
        return loss

    def validation_step(self, batch, _):
        clip, steps = batch_outputs(self.net, batch, batch["lengths"])
        self._clips.append(clip)
        self._steps += steps

    def on_validation_epoch_end(self):
        if not self._clips:
            return
        clip = torch.cat(self._clips).numpy()
        pred = {"proba" if self.net.task == "classes" else "va": clip, "steps": self._steps}
        self._clips, self._steps = [], []
        rep = score_sequences(pred, self.val, task=self.cfg.task)
        self.log("val/score", float(rep["score"]), prog_bar=True, batch_size=1)

    def configure_optimizers(self):
        return torch.optim.AdamW(self.net.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay)


def export_temporal(net: TemporalNet, path: str | Path, card: dict) -> Path:
    """Write ``net``'s weights to ``path`` (safetensors) and ``card`` to ``path.json``, atomically.

    Returns
    -------
    Path
        ``path``.
    """
    from safetensors.torch import save_file

    from affectkit.io.write import atomic_path, write_json_atomic
    from affectkit.models.card import CARD_VERSION, card_path

    card = {"card_version": CARD_VERSION, **card}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name: two runs exporting into one folder must not collide.
    with atomic_path(path) as tmp:
        save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp), metadata={"affectkit": "temporal"})
    write_json_atomic(card_path(path), card)
    return path


def is_temporal_model(path: str | Path) -> bool:
    """True if ``path`` is a temporal model (its card says ``"kind": "temporal"``).

    Never raises: a missing or malformed card gives False, except that a card which
    declares ``"kind": "temporal"`` gives True even when malformed, so that
    :func:`load_temporal` reports what is wrong with it.
    """
    from affectkit.models.card import peek_kind

    return peek_kind(path) == "temporal"


def load_temporal(path: str | Path) -> tuple[TemporalNet, dict]:
    """Load an exported temporal model and its card.

    Parameters
    ----------
    path : str or Path
        The ``.safetensors`` file; its card (``"kind": "temporal"``) is the ``.json``
        beside it.

    Returns
    -------
    net : TemporalNet
        In eval mode, on the CPU.
    card : dict
        See :func:`~affectkit.models.card.read_card`; ``config`` holds a valid
        :class:`TemporalConfig`.

    Raises
    ------
    WeightsError
        With a one-line ``FILE: problem`` message, if the file or its card is missing
        or malformed, the model is not a temporal model, or the weights do not match
        the card.
    """
    from affectkit.errors import WeightsError, one_line, printable
    from affectkit.models.card import card_path, read_card
    from affectkit.models.weights import load_weights_into, read_weights

    path = Path(path)
    card = read_card(path, kind="temporal")
    where = printable(card_path(path))
    try:
        cfg = TemporalConfig.from_dict(card["config"])
    except (TypeError, ValueError) as exc:
        raise WeightsError(f"{where}: model card 'config' is not a valid temporal config ({one_line(exc)})") from None
    dim = 1 if cfg.model == "c3d" else card["input_dim"]
    try:
        net = TemporalNet(cfg.model, card["model_kwargs"], cfg.task, dim)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise WeightsError(f"{where}: model card 'model_kwargs' do not build a {cfg.model} model "
                           f"({one_line(exc)})") from None
    load_weights_into(net, read_weights(path), path, f"temporal {cfg.model} model")
    return net.eval(), card
