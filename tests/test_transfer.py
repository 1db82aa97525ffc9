"""Transfer-learning strategies, protocols and commands on a small generated dataset.

The generated faces make the right answer known: happiness faces carry horizontal
stripes, sadness faces vertical ones; valence follows the class, arousal the stripes'
contrast. A method that learns must beat chance by far; with shuffled
labels it must not.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from affectkit.cli import app
from affectkit.data.registry import load_dataset
from affectkit.training.experiment import ExperimentConfig, StageConfig, run_experiment
from affectkit.training.finetune import FinetuneConfig, finetune, lr_scheduler


def _make_csv(root: Path, n: int = 96, n_subjects: int = 6, shuffle_labels: bool = False, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        happy = i % 2 == 0
        level = rng.uniform(0.3, 0.9)
        stripes = (np.arange(48) // 4 % 2).astype(float)
        img = rng.normal(0.2, 0.05, (48, 48)) + level * (stripes[:, None] if happy else stripes[None, :])
        path = f"img{i:03d}.png"
        Image.fromarray((np.clip(img, 0, 1) * 255).astype(np.uint8)).save(root / path)
        rows.append({
            "path": path, "label": "happiness" if happy else "sadness",
            "valence": (0.6 if happy else -0.6) + rng.normal(0, 0.05), "arousal": level * 2 - 1.2,
            "subject": f"s{i % n_subjects}", "split": "test" if i % 8 >= 6 else "train",
        })
    df = pd.DataFrame(rows)
    if shuffle_labels:
        df["label"] = rng.permutation(df["label"].to_numpy())
    df.to_csv(root / "faces.csv", index=False)
    return root / "faces.csv"


@pytest.fixture(scope="module")
def faces_csv(tmp_path_factory) -> Path:
    return _make_csv(tmp_path_factory.mktemp("faces"))


@pytest.fixture(autouse=True)
def _cache(cache):
    return cache


def _features_cfg(csv: Path, out: Path, **kw) -> ExperimentConfig:
    return ExperimentConfig(data=f"csv:{csv}", out=str(out), strategy="features", val_split=None,
                            input_size=64, **kw)


@pytest.mark.slow
def test_features_strategy_learns_classes_and_va(faces_csv, tmp_path):
    rep = run_experiment(_features_cfg(faces_csv, tmp_path / "exp", train=FinetuneConfig(task="multitask"),
                                       seeds=[0, 1], head="logistic"))
    assert rep["pooled"]["accuracy"] >= 0.9
    assert rep["pooled"]["valence"]["ccc"] > 0.6
    assert rep["summary"]["accuracy"]["n"] == 2
    assert "ensemble" in rep
    for name in ("report.json", "report.md", "confusion.png"):
        assert (tmp_path / "exp" / name).is_file()
    assert "Mean ± std" in (tmp_path / "exp" / "report.md").read_text()


@pytest.mark.slow
def test_features_strategy_is_at_chance_on_shuffled_labels(tmp_path):
    csv = _make_csv(tmp_path / "shuffled", shuffle_labels=True)
    rep = run_experiment(_features_cfg(csv, tmp_path / "exp", head="linear"))
    assert rep["pooled"]["accuracy"] < 0.8


@pytest.mark.slow
@pytest.mark.parametrize("head", ["svm", "rf", "mlp"])
def test_other_heads(faces_csv, tmp_path, head):
    rep = run_experiment(_features_cfg(faces_csv, tmp_path / head, head=head))
    assert rep["pooled"]["accuracy"] >= 0.8


@pytest.mark.slow
def test_subject_kfold_and_loso_protocols(faces_csv, tmp_path):
    kf = run_experiment(_features_cfg(faces_csv, tmp_path / "kf", protocol="kfold:3", train_split="train+test"))
    assert kf["pooled"]["n"] == 96  # every face tested exactly once
    assert kf["seeds"][0]["folds"]["accuracy"]["n"] == 3
    loso = run_experiment(_features_cfg(faces_csv, tmp_path / "loso", protocol="loso", train_split="train+test"))
    assert loso["seeds"][0]["folds"]["accuracy"]["n"] == 6
    assert loso["pooled"]["accuracy"] >= 0.9


@pytest.mark.slow
def test_cross_dataset_protocol_tests_on_the_other_dataset(faces_csv, tmp_path):
    other = _make_csv(tmp_path / "other", n=48, shuffle_labels=True, seed=3)
    rep = run_experiment(_features_cfg(faces_csv, tmp_path / "x", test_data=f"csv:{other}", head="linear"))
    assert rep["pooled"]["n"] == 12  # the other dataset's test split, not this one's 24
    assert rep["pooled"]["accuracy"] < 0.9  # its labels are shuffled


@pytest.mark.slow
def test_subject_protocol_needs_subjects(tmp_path, shared):
    with pytest.raises(ValueError, match="subject"):
        run_experiment(ExperimentConfig(data=f"fer2013:{shared / 'data' / 'fer2013'}", out=str(tmp_path),
                                        strategy="features", protocol="loso", train_split="validation"))


def _factors(cfg: FinetuneConfig, steps_per_epoch: int) -> list[float]:
    """The learning-rate multiplier of each step of a run (both parameter groups)."""
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([{"params": [p]}, {"params": [torch.nn.Parameter(torch.zeros(1))]}], lr=1.0)
    sched = lr_scheduler(opt, cfg, steps_per_epoch)
    out = []
    for _ in range(cfg.epochs * steps_per_epoch):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_sgd_adam_adamw_and_staged_schedules():
    sgd = _factors(FinetuneConfig(optimizer="sgd", epochs=30, lr_step_epochs=10, lr=1.0), steps_per_epoch=5)
    assert sgd[0] == 1.0 and sgd[49] == 1.0
    assert sgd[50] == pytest.approx(0.1) and sgd[100] == pytest.approx(0.01)
    adam = _factors(FinetuneConfig(optimizer="adam", epochs=3, lr=1.0), steps_per_epoch=5)
    assert set(adam) == {1.0}
    # adamw: (step + 1) / warm during the warm-up, then a cosine from 1 to 0.
    adamw = _factors(FinetuneConfig(optimizer="adamw", epochs=4, warmup_epochs=0.5, lr=1.0), steps_per_epoch=10)
    assert adamw[:5] == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])
    cosine = [0.5 * (1 + np.cos(np.pi * (s - 5) / 35)) for s in range(5, 40)]
    assert adamw[5:] == pytest.approx(cosine, abs=1e-6)
    staged = _factors(FinetuneConfig(optimizer="adamw", strategy="staged", head_epochs=1, stage2_lr_factor=0.1,
                                     epochs=4, warmup_epochs=0.5, lr=1.0), steps_per_epoch=10)
    assert staged[:10] == pytest.approx(adamw[:10])
    assert staged[10:] == pytest.approx([0.1 * f for f in adamw[10:]], abs=1e-6)


def _backbone_state(model_path: Path) -> dict:
    from safetensors.torch import load_file

    return {k: v for k, v in load_file(model_path).items() if k.startswith("backbone.") and v.is_floating_point()}


def _imagenet_backbone() -> dict:
    from affectkit.models.network import EmotionNet

    return {k: v for k, v in EmotionNet("mobilenet_v2").state_dict().items()
            if k.startswith("backbone.") and v.is_floating_point()}


def _tiny(**kw) -> FinetuneConfig:
    base = dict(epochs=1, batch_size=16, network_size=48, max_steps_per_epoch=3, lr=1e-3)
    return FinetuneConfig(**{**base, **kw})


@pytest.mark.slow
@pytest.mark.parametrize("strategy,changes", [("frozen", False), ("staged", False), ("full", True)])
def test_strategies_freeze_the_backbone_as_documented(faces_csv, tmp_path, strategy, changes):
    train = load_dataset(f"csv:{faces_csv}", "train")
    model = finetune(train, tmp_path / strategy, _tiny(strategy=strategy, head_epochs=1))
    after, before = _backbone_state(model), _imagenet_backbone()
    # Frozen means frozen: batch-norm statistics included.
    same = all(torch.equal(after[k], before[k]) for k in before)
    assert same != changes
    # The checkpoints are safetensors, not pickles.
    assert (tmp_path / strategy / "checkpoints" / "last.safetensors").is_file()
    assert not list((tmp_path / strategy).rglob("*.ckpt"))


@pytest.mark.slow
def test_staged_second_stage_trains_the_backbone(faces_csv, tmp_path):
    train = load_dataset(f"csv:{faces_csv}", "train")
    model = finetune(train, tmp_path / "staged2", _tiny(strategy="staged", head_epochs=1, epochs=2))
    after, before = _backbone_state(model), _imagenet_backbone()
    assert not all(torch.equal(after[k], before[k]) for k in before)


@pytest.mark.slow
def test_resume_continues_from_the_last_epoch(faces_csv, tmp_path):
    train = load_dataset(f"csv:{faces_csv}", "train")
    finetune(train, tmp_path / "run", _tiny(epochs=1))
    finetune(train, tmp_path / "run", _tiny(epochs=2))
    logs = sorted((tmp_path / "run" / "logs").glob("version_*/metrics.csv"))
    assert len(logs) == 2
    assert set(pd.read_csv(logs[1])["epoch"].dropna().astype(int)) == {1}


@pytest.mark.slow
def test_last_checkpoint_is_written_every_epoch_even_without_a_better_score(faces_csv, tmp_path):
    # Frozen backbone (batch-norm statistics too) and lr 0: the validation score never changes,
    # so `best` stays at epoch 0.
    from affectkit.training.checkpoint_io import load_state

    train = load_dataset(f"csv:{faces_csv}", "train")
    val = load_dataset(f"csv:{faces_csv}", "test")
    finetune(train, tmp_path / "run", _tiny(strategy="frozen", epochs=3, lr=0.0), val=val)
    ckpts = tmp_path / "run" / "checkpoints"
    assert load_state(ckpts / "best.safetensors")["epoch"] == 0
    assert load_state(ckpts / "last.safetensors")["epoch"] == 2
    # Resuming for one more epoch trains that epoch only, not the ones after the best.
    finetune(train, tmp_path / "run", _tiny(strategy="frozen", epochs=4, lr=0.0), val=val)
    logs = sorted((tmp_path / "run" / "logs").glob("version_*/metrics.csv"))
    assert set(pd.read_csv(logs[1])["epoch"].dropna().astype(int)) == {3}


@pytest.mark.slow
def test_early_stopping_stops_a_run_that_cannot_improve(faces_csv, tmp_path):
    train = load_dataset(f"csv:{faces_csv}", "train")
    val = load_dataset(f"csv:{faces_csv}", "test")
    finetune(train, tmp_path / "es", _tiny(epochs=6, lr=0.0, early_stopping=1), val=val)
    log = pd.read_csv(next((tmp_path / "es" / "logs").glob("version_*/metrics.csv")))
    assert log["epoch"].max() < 5


@pytest.mark.slow
def test_task_needs_matching_labels(faces_csv, tmp_path):
    train = load_dataset(f"csv:{faces_csv}", "train")
    no_va = train.subset(np.arange(len(train)))
    no_va.va[:] = np.nan
    with pytest.raises(ValueError, match="labels"):
        finetune(no_va, tmp_path / "x", _tiny(task="va"))


@pytest.mark.slow
def test_cascade_records_its_lineage(faces_csv, tmp_path):
    cfg = ExperimentConfig(
        data=f"csv:{faces_csv}", out=str(tmp_path / "cascade"), strategy="full", val_split=None, tta="none",
        pretrain=[StageConfig(data=f"csv:{faces_csv}", train_split="train+test")],
        train=_tiny(task="multitask"),
    )
    rep = run_experiment(cfg)
    card = json.loads((tmp_path / "cascade" / "seed_0" / "model" / "model.json").read_text())
    assert card["training"]["config"]["init_from"].endswith("stage_1/model.safetensors")
    assert card["training"]["init_from_training"]["cascade_stage"]["train_split"] == "train+test"
    assert "valence" in rep["pooled"] and "accuracy" in rep["pooled"]


@pytest.mark.slow
def test_cli_train_evaluate_features(faces_csv, tmp_path):
    runner = CliRunner()
    out = tmp_path / "cli"
    res = runner.invoke(app, ["train", "faces", "--data", f"csv:{faces_csv}", "--out", str(out), "--strategy", "full",
                              "--val-split", "none", "--epochs", "1", "--batch-size", "16", "--network-size", "48",
                              "--max-steps-per-epoch", "2", "--tta", "none", "-q"])
    assert res.exit_code == 0, res.output
    model = out / "seed_0" / "model" / "model.safetensors"
    assert model.is_file()
    res = runner.invoke(app, ["evaluate", "--model", str(model), "--model", str(model), "--data", f"csv:{faces_csv}",
                              "--split", "test", "-o", str(tmp_path / "eval"), "--tta", "none", "-q",
                              "--target-distribution", "0,0,0,0.25,0.75,0,0"])
    assert res.exit_code == 0, res.output
    rep = json.loads((tmp_path / "eval" / "report.json").read_text())
    recall = rep["pooled"]["recall"]
    assert rep["pooled"]["weighted_accuracy"] == pytest.approx(0.25 * recall[3] + 0.75 * recall[4])
    assert rep["pooled"]["n"] == 24 and len(rep["models"]) == 2
    # A classes-only model's valence/arousal head is untrained: it is not scored.
    assert "valence" not in rep["pooled"]
    # Two copies of one model: zero spread, and the ensemble equals the model.
    assert rep["summary"]["accuracy"]["std"] == 0
    assert rep["ensemble"]["accuracy"] == rep["models"][0]["accuracy"]
    res = runner.invoke(app, ["features", "--backbone", "mobilenet_v2", "--data", f"csv:{faces_csv}", "--tap",
                              "penultimate", "--tap", "pyramid", "--input-size", "64", "-o", str(tmp_path / "f.parquet"), "-q"])
    assert res.exit_code == 0, res.output
    df = pd.read_parquet(tmp_path / "f.parquet")
    assert len(df) == 96 and len(df["penultimate"][0]) == 1280 and len(df["pyramid"][0]) == 1408


@pytest.mark.slow
def test_cli_yaml_config_and_errors(faces_csv, tmp_path):
    runner = CliRunner()
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(f"data: csv:{faces_csv}\nstrategy: features\nval_split: null\ninput_size: 64\nhead: linear\n")
    res = runner.invoke(app, ["train", "faces", "--config", str(cfg), "--out", str(tmp_path / "y"), "-q"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "y" / "report.json").read_text())["config"]["head"] == "linear"
    cfg.write_text(f"data: csv:{faces_csv}\nlearning_rat: 0.1\n")
    res = runner.invoke(app, ["train", "faces", "--config", str(cfg), "--out", str(tmp_path / "z")])
    assert res.exit_code == 2 and "learning_rat" in res.output
    res = runner.invoke(app, ["train", "faces", "--data", f"csv:{tmp_path / 'missing.csv'}", "--out", str(tmp_path / "m")])
    assert res.exit_code == 2 and "missing.csv" in res.output and "Traceback" not in res.output
