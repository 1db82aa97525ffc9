"""The one training engine: every gradient-trained affectkit model goes through :func:`fit`.

Face fine-tuning (:mod:`affectkit.training.finetune`, which the default-model recipe
is a configuration of) and the temporal models (:mod:`affectkit.temporal.trainer`)
supply a LightningModule and their data loaders; :func:`fit` sets up Lightning once,
the same way for all of them:

* a safetensors checkpoint (no pickle) at the end of every epoch, ``last`` for
  resuming and ``best`` at the highest monitored score
  (:mod:`affectkit.training.checkpoint_io`);
* resuming from ``last`` when a run is started again with the same folder;
* the best epoch's weights reloaded into the module before it is returned, when a
  validation set was monitored;
* a cap on steps per epoch for quick runs (Lightning's ``limit_train_batches``);
* early stopping on the monitored score;
* CSV logs, and Lightning's banners and hints hidden unless a progress bar is on;
* the torch thread count pinned for the run and restored after.

Why the checkpoints stay pickle-free rather than Lightning's own ``.ckpt`` read with
``torch.load(weights_only=True)``: a Lightning checkpoint holds the run's config as a
dataclass and loop state as plain objects, which ``weights_only`` refuses unless each
class is allow-listed, and a ``.ckpt`` from elsewhere is still a pickle that a user
may load without ``weights_only``. The safetensors form resumes bit-exactly (tested in
``tests/test_checkpoint_io.py``) and runs no code when read.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping

from affectkit.training.checkpoint_io import SafetensorsCheckpointIO, best_and_last_checkpoint, load_state


@dataclass
class FitResult:
    """What :func:`fit` reports about a finished run.

    Attributes
    ----------
    best_score : float or None
        Highest value of the monitored metric over the epochs; None without validation.
    best_epoch_loaded : bool
        True if the module now holds the best epoch's weights (else the last epoch's).
    metrics : dict of str to float
        The last epoch's logged validation metrics (``val/...``).
    out_dir : Path
        The run folder (``checkpoints/``, ``logs/``).
    """

    best_score: float | None
    best_epoch_loaded: bool
    metrics: dict
    out_dir: Path


def fit(
    module: L.LightningModule,
    train_loader,
    out_dir: str | Path,
    *,
    epochs: int,
    val_loader=None,
    monitor: str = "val/score",
    restore_best: bool = True,
    resume: bool = True,
    early_stopping: int | None = None,
    max_steps_per_epoch: int | None = None,
    devices: int | str = 1,
    threads: int | None = None,
    progress: bool = False,
    log_every_n_steps: int = 10,
    callbacks: list | None = None,
) -> FitResult:
    """Train ``module`` for ``epochs`` epochs with checkpoints, resume and best-epoch reload.

    Parameters
    ----------
    module : lightning.LightningModule
        Logs ``monitor`` (to be maximised) in its validation epoch when ``val_loader``
        is given.
    train_loader : iterable
        Training batches (a torch ``DataLoader``).
    out_dir : str or Path
        Run folder; ``checkpoints/last.safetensors`` there is resumed from.
    epochs : int
        Epochs in all, counting those of a resumed run.
    val_loader : iterable, optional
        Validation batches, run at the end of every epoch.
    monitor : str
        Validation metric that picks the best epoch and drives early stopping.
    restore_best : bool
        Reload the best epoch's weights at the end (with ``val_loader``); False keeps
        the last epoch's.
    resume : bool
        Continue from ``checkpoints/last.safetensors`` when it exists.
    early_stopping : int, optional
        Stop after this many epochs without a better ``monitor``.
    max_steps_per_epoch : int, optional
        At most this many training batches per epoch.
    devices : int or str
        Lightning ``devices`` (several GPUs train with DDP).
    threads : int, optional
        Torch intra-op threads during the run (small models train faster on one
        thread of a busy CPU); None leaves the setting alone.
    progress : bool
        Lightning's progress bar and start-up messages.
    log_every_n_steps : int
    callbacks : list, optional
        More Lightning callbacks (e.g. weight averaging).

    Returns
    -------
    FitResult

    Raises
    ------
    ValueError
        If ``early_stopping`` is asked for without ``val_loader``.
    """
    if early_stopping and val_loader is None:
        raise ValueError("early stopping needs a validation set")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_dir = out_dir / "checkpoints"
    checkpoints = best_and_last_checkpoint(ckpt_dir, monitor if val_loader is not None else None)
    callbacks = [*checkpoints, *(callbacks or [])]
    if early_stopping:
        callbacks.append(EarlyStopping(monitor=monitor, mode="max", patience=early_stopping))
    last = ckpt_dir / "last.safetensors"
    with quiet_lightning(progress), pinned_threads(threads):
        trainer = L.Trainer(
            max_epochs=epochs, accelerator="auto", devices=devices, callbacks=callbacks,
            plugins=[SafetensorsCheckpointIO()], default_root_dir=out_dir, enable_progress_bar=progress,
            logger=L.pytorch.loggers.CSVLogger(out_dir, name="logs"), log_every_n_steps=log_every_n_steps,
            num_sanity_val_steps=0, enable_model_summary=False,
            limit_train_batches=max_steps_per_epoch or 1.0,
        )
        trainer.fit(module, train_dataloaders=train_loader, val_dataloaders=val_loader,
                    ckpt_path=str(last) if resume and last.exists() else None)
    best = ckpt_dir / "best.safetensors"
    loaded = False
    if restore_best and val_loader is not None and best.exists():
        module.load_state_dict(load_state(best)["state_dict"])
        loaded = True
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/")}
    best_score = checkpoints[0].best_model_score if val_loader is not None else None
    score = float(best_score) if best_score is not None else None
    return FitResult(score, loaded, metrics, out_dir)


@contextlib.contextmanager
def pinned_threads(n: int | None):
    """Run the block with ``n`` torch intra-op threads (None: unchanged), then restore."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def quiet_lightning(progress: bool):
    """Hide Lightning's start-up banner and hints (GPU/TPU lines, worker tips) unless a
    progress bar was asked for; real warnings from training still show."""
    if progress:
        yield
        return
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "lightning")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            for msg in (".*val_dataloader.*", ".*does not have many workers.*", ".*LeafSpec.*",
                        ".*limit_train_batches=1.0.*", ".*litlogger.*", ".*max_epochs.*reached.*",
                        ".*smaller than the logging interval.*", ".*exists and is not empty.*"):
                warnings.filterwarnings("ignore", message=msg)
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)
