"""Fine-tuning strategies on any face dataset: full, staged and frozen, with the seed
papers' optimiser schedules, cascades across datasets, and classes, valence/arousal
or both.

* ``full``: every layer trains from the first step (Ng et al. 2015).
* ``staged``: the heads train first on a frozen backbone, then every layer at a lower
  learning rate (Vielzeuf et al. 2018).
* ``frozen``: only the heads ever train (a linear probe trained by gradient descent).
* cascades: ``init_from`` starts from an exported affectkit model, e.g. ImageNet ->
  FER-2013 -> target (Ng et al. 2015); see :func:`cascade`.

Optimisers (``optimizer``):

* ``sgd``: momentum 0.9, weight decay 5e-4, learning rate divided by 10 every
  ``lr_step_epochs`` epochs (Ng et al. 2015; they start at 1e-3);
* ``adam``: constant learning rate (Jin et al. use 1e-4);
* ``adamw``: weight decay 0.05, linear warm-up then cosine decay (affectkit's default).

Checkpoints are safetensors files (no pickle) written every epoch, so a stopped run
resumes where it was; the best epoch on the validation set is exported.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from affectkit.data.faceset import FaceDataset, FaceSet
from affectkit.evaluation.metrics import ccc_loss

TASKS = ("classes", "va", "multitask")
STRATEGIES = ("full", "staged", "frozen")
OPTIMIZERS = ("adamw", "sgd", "adam")


@dataclass
class FinetuneConfig:
    """Everything that defines a fine-tuning run (saved with its checkpoints and card).

    Attributes
    ----------
    backbone : str
        Registry name (:mod:`affectkit.models.backbones`).
    pretrained : bool
        Start from ImageNet weights (ignored when ``init_from`` is set).
    weights : str or None
        Local ImageNet weights file.
    network_size : int
        Face side, pixels, at the backbone input.
    task : {"classes", "va", "multitask"}
        What is learned; ``multitask`` sums both losses (rows without a label of a
        kind are masked out of that loss).
    strategy : {"full", "staged", "frozen"}
    head_epochs : int
        ``staged``: epochs with the backbone frozen before every layer trains.
    stage2_lr_factor : float
        ``staged``: learning-rate multiplier once every layer trains.
    optimizer : {"adamw", "sgd", "adam"}
    lr : float
        Peak learning rate.
    weight_decay : float or None
        None = the optimiser's preset (sgd 5e-4, adam 0, adamw 0.05).
    lr_step_epochs : int
        ``sgd``: divide the learning rate by 10 every this many epochs.
    epochs, batch_size : int
    label_smoothing : float
    va_weight : float
        Weight of the valence/arousal loss (MSE + 1 - CCC).
    augment : bool
        Flip, zoom/shift crop, rotation jitter, brightness/contrast and cutout.
    dropout : float
    early_stopping : int or None
        Stop after this many epochs without a better validation score.
    seed : int
    max_steps_per_epoch : int or None
        Cap for quick runs and tests.
    init_from : str or None
        Exported affectkit model to start from (cascaded fine-tuning).
    devices : int or str
        Lightning ``devices``: 1, a GPU count (several GPUs train with DDP), or "auto".
    """

    backbone: str = "mobilenet_v2"
    pretrained: bool = True
    weights: str | None = None
    network_size: int = 80
    task: str = "classes"
    strategy: str = "full"
    head_epochs: int = 1
    stage2_lr_factor: float = 0.1
    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float | None = None
    lr_step_epochs: int = 10
    epochs: int = 10
    batch_size: int = 64
    label_smoothing: float = 0.0
    va_weight: float = 1.0
    augment: bool = True
    dropout: float = 0.2
    early_stopping: int | None = None
    seed: int = 0
    max_steps_per_epoch: int | None = None
    init_from: str | None = None
    devices: int | str = 1

    def __post_init__(self) -> None:
        for name, allowed in (("task", TASKS), ("strategy", STRATEGIES), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        """Build from a dict (e.g. YAML), rejecting unknown keys with a clear error."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown training options {sorted(unknown)}; known: {sorted(known)}")
        return cls(**d)


def _jsonable(obj):
    return json.loads(json.dumps(obj, default=str))


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255)


def _lr_factor(cfg: FinetuneConfig, steps_per_epoch: int):
    """Step -> learning-rate multiplier for ``cfg.optimizer`` (before staging)."""
    total = cfg.epochs * steps_per_epoch
    warm = max(1, steps_per_epoch // 2)

    def factor(step: int) -> float:
        if cfg.optimizer == "sgd":
            return 0.1 ** (step // steps_per_epoch // cfg.lr_step_epochs)
        if cfg.optimizer == "adam":
            return 1.0
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

    return factor


def build_module(cfg: FinetuneConfig, steps_per_epoch: int):
    """The LightningModule that fine-tunes an :class:`~affectkit.models.network.EmotionNet`.

    Validation logs ``val/acc``, ``val/uar`` (classes), ``val/ccc_valence``,
    ``val/ccc_arousal`` (valence/arousal) and ``val/score``: UAR, mean CCC, or their
    mean for ``multitask``.
    """
    import lightning as L

    from affectkit.evaluation.metrics import ccc, classification_report
    from affectkit.expressions import EXPRESSIONS
    from affectkit.models.network import EmotionNet

    class FinetuneModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.cfg = cfg
            if cfg.init_from:
                from affectkit.models.card import load_for_finetuning

                self.net = load_for_finetuning(cfg.init_from, cfg.backbone, cfg.network_size)
                self.net.dropout.p = cfg.dropout
            else:
                self.net = EmotionNet(cfg.backbone, cfg.network_size, pretrained=cfg.pretrained,
                                      dropout=cfg.dropout, weights=cfg.weights)
            # channels_last makes CPU convolutions (depthwise ones above all) about 1.5x faster.
            self.net = self.net.to(memory_format=torch.channels_last)
            self.save_hyperparameters(asdict(cfg))
            self._val: list[tuple[torch.Tensor, ...]] = []

        def _backbone_frozen(self) -> bool:
            return cfg.strategy == "frozen" or (cfg.strategy == "staged" and self.current_epoch < cfg.head_epochs)

        def _losses(self, out, y, va):
            losses = {}
            if cfg.task in ("classes", "multitask") and (y >= 0).any():
                losses["cls"] = F.cross_entropy(out["logits"], y, ignore_index=-1, label_smoothing=cfg.label_smoothing)
            has_va = torch.isfinite(va).all(1)
            if cfg.task in ("va", "multitask") and has_va.sum() >= 2:
                p, t = out["va"][has_va], va[has_va]
                losses["va"] = cfg.va_weight * (F.mse_loss(p, t) + ccc_loss(p, t))
            return losses

        def training_step(self, batch, _):
            x, y, va = batch
            x = _to_float(x)
            x = augment_or_resize(x, cfg).contiguous(memory_format=torch.channels_last)
            if self._backbone_frozen():
                # Frozen: batch-norm statistics stay ImageNet's, and no backward pass.
                self.net.backbone.eval()
                with torch.no_grad():
                    z = self.net.embed(x)
                out = self.net.heads(z)
            else:
                self.net.backbone.train()
                out = self.net(x)
            losses = self._losses(out, y, va)
            if not losses:
                return None
            loss = sum(losses.values())
            self.log_dict({f"train/{k}": v for k, v in losses.items()} | {"train/loss": loss},
                          prog_bar=True, on_step=True, on_epoch=True)
            return loss

        def validation_step(self, batch, _):
            x, y, va = batch
            out = self.net(_to_float(x))
            self._val.append((out["logits"].argmax(1).cpu(), y.cpu(), out["va"].cpu(), va.cpu()))

        def on_validation_epoch_end(self):
            if not self._val:
                return
            pred, y, pva, tva = (torch.cat(t) for t in zip(*self._val))
            self._val.clear()
            scores, metrics = [], {}
            labelled = y >= 0
            if cfg.task in ("classes", "multitask") and labelled.any():
                rep = classification_report(y[labelled].numpy(), pred[labelled].numpy(), len(EXPRESSIONS))
                metrics |= {"val/acc": rep["accuracy"], "val/uar": rep["uar"]}
                scores.append(rep["uar"])
            has_va = torch.isfinite(tva).all(1)
            if cfg.task in ("va", "multitask") and has_va.sum() >= 2:
                cv = ccc(pva[has_va, 0], tva[has_va, 0])
                ca = ccc(pva[has_va, 1], tva[has_va, 1])
                metrics |= {"val/ccc_valence": cv, "val/ccc_arousal": ca}
                scores.append((cv + ca) / 2)
            metrics["val/score"] = float(np.mean(scores)) if scores else float("nan")
            self.log_dict(metrics, prog_bar=True)

        def configure_optimizers(self):
            backbone = list(self.net.backbone.parameters())
            ids = {id(p) for p in backbone}
            heads = [p for p in self.parameters() if id(p) not in ids]
            groups = [{"params": backbone}, {"params": heads}]
            if cfg.optimizer == "sgd":
                wd = 5e-4 if cfg.weight_decay is None else cfg.weight_decay
                opt = torch.optim.SGD(groups, lr=cfg.lr, momentum=0.9, weight_decay=wd)
            elif cfg.optimizer == "adam":
                wd = 0.0 if cfg.weight_decay is None else cfg.weight_decay
                opt = torch.optim.Adam(groups, lr=cfg.lr, weight_decay=wd)
            else:
                wd = 0.05 if cfg.weight_decay is None else cfg.weight_decay
                opt = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=wd)
            base = _lr_factor(cfg, steps_per_epoch)
            staged = cfg.strategy == "staged"

            def backbone_factor(step: int) -> float:
                if cfg.strategy == "frozen":
                    return 0.0
                if staged:
                    return 0.0 if step < cfg.head_epochs * steps_per_epoch else base(step) * cfg.stage2_lr_factor
                return base(step)

            def head_factor(step: int) -> float:
                if staged and step >= cfg.head_epochs * steps_per_epoch:
                    return base(step) * cfg.stage2_lr_factor
                return base(step)

            sched = torch.optim.lr_scheduler.LambdaLR(opt, [backbone_factor, head_factor])
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return FinetuneModule()


def augment_or_resize(x: torch.Tensor, cfg: FinetuneConfig) -> torch.Tensor:
    """Training-time view of a ``(B, C, H, W)`` ``[0, 1]`` batch at ``cfg.network_size``."""
    from affectkit.training.augment import augment_faces

    if cfg.augment:
        return augment_faces(x, cfg.network_size)
    return F.interpolate(x, size=(cfg.network_size, cfg.network_size), mode="bilinear", align_corners=False)


class _CappedLoader:
    """At most ``cap`` batches per epoch of a loader (quick runs)."""

    def __init__(self, loader, cap: int | None):
        self.loader, self.cap = loader, cap

    def __len__(self) -> int:
        return min(len(self.loader), self.cap) if self.cap else len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i >= len(self):
                return
            yield batch


def finetune(
    train: FaceSet,
    out_dir: str | Path,
    cfg: FinetuneConfig | None = None,
    *,
    val: FaceSet | None = None,
    resume: bool = True,
    progress: bool = False,
    recipe: dict | None = None,
) -> Path:
    """Fine-tune a backbone on ``train`` and export the best model.

    Parameters
    ----------
    train : FaceSet
        Grey ``(N, S, S)`` ``uint8`` faces with expression labels and/or valence/arousal.
    out_dir : str or Path
        Run folder: ``checkpoints/last.safetensors`` (resume) and ``best.safetensors``,
        ``config.json``, CSV logs, and the exported ``model.safetensors`` + ``model.json``.
    cfg : FinetuneConfig, optional
    val : FaceSet, optional
        Monitored every epoch; the best epoch (``val/score``) is exported and early
        stopping watches it. Without it, the last epoch is exported.
    resume : bool
        Continue from ``checkpoints/last.safetensors`` when it exists.
    progress : bool
        Lightning's progress bar.
    recipe : dict, optional
        Extra provenance (data, command) for the model card.

    Returns
    -------
    Path
        The exported ``model.safetensors``.

    Raises
    ------
    ValueError
        If ``train`` has no labels for ``cfg.task``, or ``early_stopping`` without ``val``.
    """
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping

    from affectkit.models.card import export_model
    from affectkit.training.checkpoint_io import SafetensorsCheckpointIO, best_and_last_checkpoint, load_state

    cfg = cfg or FinetuneConfig()
    if train.images.ndim != 3:
        raise ValueError("finetune takes grey faces (N, S, S); load the dataset with grey=True")
    needs = {"classes": train.has_labels, "va": train.has_va, "multitask": train.has_labels or train.has_va}
    if not needs[cfg.task]:
        raise ValueError(f"task {cfg.task!r} needs labels the training set does not have")
    if cfg.early_stopping and val is None:
        raise ValueError("early stopping needs a validation set")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    g = torch.Generator().manual_seed(cfg.seed)
    train_loader = _CappedLoader(
        torch.utils.data.DataLoader(FaceDataset(train), batch_size=cfg.batch_size, shuffle=True,
                                    drop_last=len(train) > cfg.batch_size, generator=g),
        cfg.max_steps_per_epoch,
    )
    val_loader = (torch.utils.data.DataLoader(FaceDataset(val), batch_size=256) if val is not None else None)
    module = build_module(cfg, len(train_loader))
    ckpt_dir = out_dir / "checkpoints"
    monitor = "val/score" if val is not None else None
    ckpt = best_and_last_checkpoint(ckpt_dir, monitor)
    callbacks = [ckpt]
    if cfg.early_stopping:
        callbacks.append(EarlyStopping(monitor="val/score", mode="max", patience=cfg.early_stopping))
    trainer = L.Trainer(
        max_epochs=cfg.epochs, accelerator="auto", devices=cfg.devices, callbacks=callbacks,
        plugins=[SafetensorsCheckpointIO()], default_root_dir=out_dir, enable_progress_bar=progress,
        log_every_n_steps=10, logger=L.pytorch.loggers.CSVLogger(out_dir, name="logs"),
        num_sanity_val_steps=0, enable_model_summary=False,
    )
    last = ckpt_dir / "last.safetensors"
    trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader,
                ckpt_path=str(last) if resume and last.exists() else None)
    best = ckpt_dir / "best.safetensors"
    if val is not None and best.exists():
        # Export the best validation epoch, not the last one.
        state = load_state(best)["state_dict"]
        module.load_state_dict(state)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    card_recipe = {"strategy": "finetune", "config": asdict(cfg), "train_data": _jsonable(train.meta),
                   "n_train": len(train), "val_data": _jsonable(val.meta) if val is not None else None,
                   "best_val": float(ckpt.best_model_score) if ckpt.best_model_score is not None else None,
                   "last_val": metrics, **(recipe or {})}
    if cfg.init_from:
        from affectkit.models.card import read_card

        card_recipe["init_from_training"] = read_card(cfg.init_from).get("training", {})
    return export_model(module.net.eval(), out_dir / "model.safetensors", recipe=card_recipe,
                        face_size=int(train.images.shape[1]))
