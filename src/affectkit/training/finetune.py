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

from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

import lightning as L

from affectkit.data.faceset import FaceSet
from affectkit.errors import reject_unknown
from affectkit.evaluation.metrics import ccc_loss
from affectkit.io.write import jsonable, write_json_atomic
from affectkit.training.engine import fit
from affectkit.training.face_batches import FaceDataset, MixedBatchSampler

TASKS = ("classes", "va", "multitask")
STRATEGIES = ("full", "staged", "frozen")
OPTIMIZERS = ("adamw", "sgd", "adam")
CLASS_BALANCE = ("none", "loss", "sampler", "logit_adjust")


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
    warmup_epochs : float
        ``adamw``: epochs of linear warm-up before the cosine decay.
    mix_batch : list of int or None
        Faces drawn per batch from each part of a training set concatenated from
        several datasets (:class:`MixedBatchSampler`), e.g. ``[128, 16]`` for FER-2013
        with DiffusionFER mixed in; None = plain shuffled batches of ``batch_size``.
    export_epoch : {"best", "last"}
        Export the best validation epoch (when there is a validation set) or the last.
    class_balance : {"none", "loss", "sampler", "logit_adjust"}
        Against class imbalance (FER-2013: 1.5 % disgust): ``loss`` weights each
        class by the inverse of its effective number of samples (Cui et al. 2019,
        beta 0.999); ``sampler`` draws faces with probability inversely proportional to
        their class frequency; ``logit_adjust`` adds ``log prior`` to the logits in the
        training loss only (Menon et al. 2021), so the model learns balanced scores.
    soft_targets : bool
        Train on the training set's expression distributions where it has them (FER+
        crowd votes: Barsoum et al. 2016's cross-entropy on the vote distribution)
        instead of the single label.
    soft_weight : float
        With ``soft_targets``, the target of a face with both a label and a
        distribution is ``soft_weight * distribution + (1 - soft_weight) * label``
        (label smoothed as usual); 1 = the distribution alone.
    mixup, cutmix : float
        Beta(alpha, alpha) parameters of mixup (Zhang et al. 2018) and CutMix (Yun et
        al. 2019) on each batch, mixing the targets alike; 0 = off. With both on, each
        batch takes one of them at random.
    ema : float
        Decay of an exponential moving average of the weights (validated and
        exported in place of the raw weights); 0 = off.
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
    warmup_epochs: float = 0.5
    mix_batch: list[int] | None = None
    export_epoch: str = "best"
    class_balance: str = "none"
    soft_targets: bool = False
    soft_weight: float = 1.0
    mixup: float = 0.0
    cutmix: float = 0.0
    ema: float = 0.0

    def __post_init__(self) -> None:
        from affectkit.models.backbones import backbone_spec

        for name, allowed in (("task", TASKS), ("strategy", STRATEGIES), ("optimizer", OPTIMIZERS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        if self.class_balance not in CLASS_BALANCE:
            raise ValueError(f"class_balance must be one of {CLASS_BALANCE}, got {self.class_balance!r}")
        if not 0 <= self.soft_weight <= 1:
            raise ValueError(f"soft_weight must be in [0, 1], got {self.soft_weight}")
        if not 0 <= self.ema < 1 or self.mixup < 0 or self.cutmix < 0:
            raise ValueError("ema must be in [0, 1); mixup and cutmix must be >= 0")
        if self.export_epoch not in ("best", "last"):
            raise ValueError(f"export_epoch must be 'best' or 'last', got {self.export_epoch!r}")
        if self.epochs < 1 or self.batch_size < 2:
            raise ValueError("epochs must be >= 1 and batch_size >= 2")
        # Checked now, not when the first model is built: a run fails before it writes anything.
        backbone_spec(self.backbone)

    @classmethod
    def from_dict(cls, d: dict) -> "FinetuneConfig":
        """Build from a dict (e.g. YAML).

        Raises
        ------
        OptionError
            For a key that is not a field, naming it (a ``ValueError``).
        """
        reject_unknown(d, [f.name for f in fields(cls)], "training option")
        return cls(**d)


def _to_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255)


def lr_scheduler(opt: torch.optim.Optimizer, cfg: "FinetuneConfig", steps_per_epoch: int):
    """The per-step learning-rate schedule of ``cfg.optimizer``, from torch's scheduler classes.

    * ``adamw``: linear warm-up over ``cfg.warmup_epochs`` from 1/warm-up steps of
      the peak, then cosine decay to 0 at the last step (``LinearLR`` then
      ``CosineAnnealingLR``);
    * ``sgd``: divided by 10 every ``cfg.lr_step_epochs`` epochs (``StepLR``; Ng et al. 2015);
    * ``adam``: constant (Jin et al. 2019).

    With the ``staged`` strategy, every rate is multiplied by ``cfg.stage2_lr_factor``
    once the backbone starts training (``MultiStepLR``, chained); during the head
    epochs the backbone gets no gradient, so its rate does not matter.

    Returns
    -------
    torch.optim.lr_scheduler.LRScheduler
        Stepped once per optimiser step.
    """
    from torch.optim import lr_scheduler as S

    total = cfg.epochs * steps_per_epoch
    if cfg.optimizer == "sgd":
        main = S.StepLR(opt, step_size=max(1, cfg.lr_step_epochs * steps_per_epoch), gamma=0.1)
    elif cfg.optimizer == "adam":
        main = S.ConstantLR(opt, factor=1.0, total_iters=0)
    else:
        warm = max(1, int(cfg.warmup_epochs * steps_per_epoch))
        main = S.SequentialLR(opt, [
            S.LinearLR(opt, start_factor=1.0 / warm, end_factor=1.0, total_iters=max(1, warm - 1)),
            S.CosineAnnealingLR(opt, T_max=max(1, total - warm)),
        ], milestones=[warm])
    if cfg.strategy != "staged":
        return main
    stage2 = S.MultiStepLR(opt, milestones=[cfg.head_epochs * steps_per_epoch], gamma=cfg.stage2_lr_factor)
    return S.ChainedScheduler([main, stage2], optimizer=opt)


class FinetuneModule(L.LightningModule):
    """Fine-tunes an :class:`~affectkit.models.network.EmotionNet` on faces (any strategy, task).

    Batches are ``(images, labels, va)`` as :class:`~affectkit.data.faceset.FaceDataset`
    gives them. Validation logs ``val/acc``, ``val/uar`` (classes),
    ``val/ccc_valence``, ``val/ccc_arousal`` (valence/arousal) and ``val/score``:
    UAR, mean CCC, or their mean for ``multitask`` (over the kinds of label the
    validation set has).

    Parameters
    ----------
    cfg : FinetuneConfig
    steps_per_epoch : int
        Optimiser steps per epoch (for the learning-rate schedule).
    class_prior : np.ndarray, optional
        ``(7,)`` class frequencies of the training set, for ``cfg.class_balance``.

    Raises
    ------
    WeightsError
        If ``cfg.init_from`` or ``cfg.weights`` cannot be loaded.
    """

    def __init__(self, cfg: "FinetuneConfig", steps_per_epoch: int, class_prior: np.ndarray | None = None):
        super().__init__()
        from affectkit.models.network import EmotionNet

        self.cfg = cfg
        self.steps_per_epoch = steps_per_epoch
        prior = np.full(7, 1 / 7) if class_prior is None else np.asarray(class_prior, np.float64)
        # Buffers, so they travel with checkpoints; not part of the exported network.
        self.register_buffer("log_prior", torch.tensor(np.log(np.maximum(prior, 1e-6)), dtype=torch.float32))
        self.register_buffer("class_weight", torch.tensor(_effective_number_weights(prior), dtype=torch.float32))
        if cfg.init_from:
            from affectkit.models.card import load_for_finetuning

            self.net = load_for_finetuning(cfg.init_from, cfg.backbone, cfg.network_size)
            self.net.dropout.p = cfg.dropout
        else:
            self.net = EmotionNet(cfg.backbone, cfg.network_size, pretrained=cfg.pretrained,
                                  dropout=cfg.dropout, weights=cfg.weights)
        # channels_last makes CPU convolutions (depthwise ones above all) about 1.5x faster.
        self.net = self.net.to(memory_format=torch.channels_last)
        self.save_hyperparameters(asdict(cfg), ignore=["class_prior"])
        self._val: list[tuple[torch.Tensor, ...]] = []

    def _backbone_frozen(self) -> bool:
        cfg = self.cfg
        return cfg.strategy == "frozen" or (cfg.strategy == "staged" and self.current_epoch < cfg.head_epochs)

    def class_targets(self, y: torch.Tensor, soft: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 7)`` target distributions and the ``(B,)`` mask of rows that have one."""
        eps = self.cfg.label_smoothing
        hard = F.one_hot(y.clamp(min=0), 7).float() * (1 - eps) + eps / 7
        has_soft = torch.isfinite(soft).all(1) if self.cfg.soft_targets else torch.zeros_like(y, dtype=torch.bool)
        w = self.cfg.soft_weight
        # A face with a distribution and a label blends them; with only one, that one.
        mixed = torch.where((y >= 0)[:, None], w * torch.nan_to_num(soft) + (1 - w) * hard, torch.nan_to_num(soft))
        target = torch.where(has_soft[:, None], mixed, hard)
        return target, has_soft | (y >= 0)

    def losses(self, out: dict, target: torch.Tensor, has_cls: torch.Tensor, va: torch.Tensor) -> dict:
        """The batch's losses: ``cls`` (cross-entropy on ``target``, class-balanced or logit-adjusted as
        configured) and ``va`` (``va_weight`` * (MSE + 1 - CCC)), each present when the task and rows have it.

        ``out``: the network's ``logits`` ``(B, 7)`` and ``va`` ``(B, 2)``; ``target`` ``(B, 7)`` and
        ``has_cls`` ``(B,)`` from :meth:`class_targets`; ``va`` ``(B, 2)`` labels, NaN where none.
        """
        cfg, losses = self.cfg, {}
        if cfg.task in ("classes", "multitask") and has_cls.any():
            logits = out["logits"][has_cls]
            t = target[has_cls]
            if cfg.class_balance == "logit_adjust":
                logits = logits + self.log_prior  # Menon et al. 2021: train on prior-adjusted logits
            per_row = -(t * F.log_softmax(logits, 1)).sum(1)
            if cfg.class_balance == "loss":
                w = t @ self.class_weight
                losses["cls"] = (per_row * w).sum() / w.sum()
            else:
                losses["cls"] = per_row.mean()
        has_va = torch.isfinite(va).all(1)
        if cfg.task in ("va", "multitask") and has_va.sum() >= 2:
            p, t = out["va"][has_va], va[has_va]
            losses["va"] = cfg.va_weight * (F.mse_loss(p, t) + ccc_loss(p, t))
        return losses

    def _mix(self, x, target, has_cls, va):
        """Mixup or CutMix of a batch and its targets (Zhang et al. 2018; Yun et al. 2019).

        Each row mixes with a random partner of its own kind: rows with valence/arousal pair
        with rows with valence/arousal, the rest with the rest. A random partner over the
        whole batch would leave a mixed row's valence/arousal NaN whenever either row lacked
        it, so with 16 of 128 rows from a valence/arousal set only about 2 would keep a target.
        """
        cfg = self.cfg
        kinds = [k for k, a in (("mixup", cfg.mixup), ("cutmix", cfg.cutmix)) if a > 0]
        if not kinds:
            return x, target, has_cls, va
        kind = kinds[int(torch.randint(len(kinds), ()))]
        alpha = cfg.mixup if kind == "mixup" else cfg.cutmix
        lam = float(torch.distributions.Beta(alpha, alpha).sample())
        perm = torch.arange(len(x), device=va.device)
        has_va = torch.isfinite(va).all(1)
        for group in (has_va, ~has_va):
            idx = group.nonzero().flatten()
            perm[idx] = idx[torch.randperm(len(idx), device=va.device)]
        if kind == "mixup":
            x = lam * x + (1 - lam) * x[perm]
        else:
            side = x.shape[-1]
            cut = int(round(side * (1 - lam) ** 0.5))
            cy, cx = (int(v) for v in torch.randint(side, (2,)))
            y0, y1 = max(cy - cut // 2, 0), min(cy + cut // 2 + cut % 2, side)
            x0, x1 = max(cx - cut // 2, 0), min(cx + cut // 2 + cut % 2, side)
            x = x.clone()
            x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
            lam = 1 - (y1 - y0) * (x1 - x0) / side**2
        target = lam * target + (1 - lam) * target[perm]
        va = lam * va + (1 - lam) * va[perm]  # partners share the kind: VA rows stay VA rows
        return x, target, has_cls & has_cls[perm], va

    def training_step(self, batch, _):
        x, y, va, soft = batch
        x = augment_or_resize(_to_float(x), self.cfg).contiguous(memory_format=torch.channels_last)
        target, has_cls = self.class_targets(y, soft)
        x, target, has_cls, va = self._mix(x, target, has_cls, va)
        if self._backbone_frozen():
            # Frozen: batch-norm statistics stay ImageNet's, and no backward pass.
            self.net.backbone.eval()
            with torch.no_grad():
                z = self.net.embed(x)
            out = self.net.heads(z)
        else:
            self.net.backbone.train()
            out = self.net(x)
        losses = self.losses(out, target, has_cls, va)
        if not losses:
            return None
        loss = sum(losses.values())
        self.log_dict({f"train/{k}": v for k, v in losses.items()} | {"train/loss": loss},
                      prog_bar=True, on_step=True, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, _):
        x, y, va, _soft = batch
        out = self.net(_to_float(x))
        self._val.append((out["logits"].argmax(1).cpu(), y.cpu(), out["va"].cpu(), va.cpu()))

    def on_validation_epoch_end(self):
        from affectkit.evaluation.metrics import ccc, classification_report
        from affectkit.expressions import EXPRESSIONS

        if not self._val:
            return
        cfg = self.cfg
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
        cfg = self.cfg
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
        sched = lr_scheduler(opt, cfg, self.steps_per_epoch)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _effective_number_weights(prior: np.ndarray, beta: float = 0.999, n: int = 28709) -> np.ndarray:
    """Class weights ``(1 - beta) / (1 - beta ** n_c)`` (Cui et al. 2019), mean 1.

    ``n_c`` is class ``c``'s count in a training set of ``n`` faces with class shares
    ``prior``; rare classes weigh more, and less than by plain inverse frequency.
    """
    counts = np.maximum(np.asarray(prior, np.float64) * n, 1.0)
    w = (1 - beta) / (1 - beta**counts)
    return w / w.mean()


def class_prior(train: FaceSet) -> np.ndarray:
    """``(7,)`` ``float64`` class shares of a training set (its labels, or its distributions).

    Rows with a distribution (``soft``) count by it, the others by their label; rows
    with neither do not count.
    """
    counts = np.zeros(7)
    has_soft = np.isfinite(train.soft).all(1) if train.soft is not None else np.zeros(len(train), bool)
    if has_soft.any():
        counts += train.soft[has_soft].sum(0)
    lab = (~has_soft) & (train.labels >= 0)
    counts += np.bincount(train.labels[lab], minlength=7)[:7]
    return counts / max(counts.sum(), 1.0)


def augment_or_resize(x: torch.Tensor, cfg: FinetuneConfig) -> torch.Tensor:
    """Training-time view of a ``(B, C, H, W)`` ``[0, 1]`` batch at ``cfg.network_size``."""
    from affectkit.training.augment import augment_faces

    if cfg.augment:
        return augment_faces(x, cfg.network_size)
    return F.interpolate(x, size=(cfg.network_size, cfg.network_size), mode="bilinear", align_corners=False)


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
    WeightsError
        If ``cfg.init_from`` is not a loadable face model, or ``cfg.weights`` cannot
        be read as ImageNet weights of ``cfg.backbone`` (one line naming the file).
    """
    from affectkit.models.card import export_model

    cfg = cfg or FinetuneConfig()
    if train.images.ndim != 3:
        raise ValueError("finetune takes grey faces (N, S, S); load the dataset with grey=True")
    needs = {"classes": train.has_labels, "va": train.has_va, "multitask": train.has_labels or train.has_va}
    if not needs[cfg.task]:
        raise ValueError(f"task {cfg.task!r} needs labels the training set does not have")
    if cfg.early_stopping and val is None:
        raise ValueError("early stopping needs a validation set")
    init_card = None
    if cfg.init_from:
        from affectkit.models.card import read_card

        # Read before anything is written: a bad model file fails the run at once.
        init_card = read_card(cfg.init_from, kind="face")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    write_json_atomic(out_dir / "config.json", asdict(cfg))

    prior = class_prior(train)
    if cfg.class_balance == "sampler":
        if cfg.mix_batch:
            raise ValueError("class_balance 'sampler' does not combine with mix_batch; use 'loss' or 'logit_adjust'")
        # Each face drawn with probability inversely proportional to its class's share.
        lab = np.where(train.labels >= 0, train.labels, int(np.argmax(prior)))
        weights = torch.tensor(1.0 / np.maximum(prior[lab], 1e-6), dtype=torch.double)
        balanced = torch.utils.data.WeightedRandomSampler(weights, len(train), replacement=True,
                                                          generator=torch.Generator().manual_seed(cfg.seed))
        train_loader = torch.utils.data.DataLoader(FaceDataset(train), batch_size=cfg.batch_size, sampler=balanced,
                                                   drop_last=len(train) > cfg.batch_size)
    elif cfg.mix_batch:
        # One batch draws mix_batch[i] faces from part i of a concatenated set (FaceSet.concat).
        sizes = train.meta.get("part_sizes")
        if not sizes:
            raise ValueError("mix_batch needs a training set concatenated from parts (FaceSet.concat)")
        sampler = MixedBatchSampler(sizes, cfg.mix_batch, cfg.seed)
        train_loader = torch.utils.data.DataLoader(FaceDataset(train), batch_sampler=sampler)
    else:
        g = torch.Generator().manual_seed(cfg.seed)
        train_loader = torch.utils.data.DataLoader(FaceDataset(train), batch_size=cfg.batch_size, shuffle=True,
                                                   drop_last=len(train) > cfg.batch_size, generator=g)
    val_loader = (torch.utils.data.DataLoader(FaceDataset(val), batch_size=256) if val is not None else None)
    steps = min(len(train_loader), cfg.max_steps_per_epoch or len(train_loader))
    module = FinetuneModule(cfg, steps, prior)
    callbacks = []
    if cfg.ema:
        from lightning.pytorch.callbacks import EMAWeightAveraging

        callbacks.append(EMAWeightAveraging(decay=cfg.ema))
    result = fit(module, train_loader, out_dir, epochs=cfg.epochs, val_loader=val_loader, callbacks=callbacks,
                 restore_best=cfg.export_epoch == "best", resume=resume, early_stopping=cfg.early_stopping,
                 max_steps_per_epoch=cfg.max_steps_per_epoch, devices=cfg.devices, progress=progress)
    card_recipe = {"strategy": "finetune", "config": asdict(cfg), "train_data": jsonable(train.meta),
                   "n_train": len(train), "val_data": jsonable(val.meta) if val is not None else None,
                   "best_val": result.best_score, "exported_epoch": "best" if result.best_epoch_loaded else "last",
                   "last_val": result.metrics, **(recipe or {})}
    if init_card is not None:
        card_recipe["init_from_training"] = init_card.get("training", {})
    return export_model(module.net.eval(), out_dir / "model.safetensors", recipe=card_recipe,
                        face_size=int(train.images.shape[1]))
