from pathlib import Path

import numpy as np
import pytest
import torch

from affectkit.expressions import FER2013_FOLDERS
from affectkit.models.recognizer import Recognizer
from affectkit.training.augment import augment_faces
from affectkit.training.checkpoint_io import load_state


@pytest.fixture()
def tiny_data(tmp_path):
    """A FER-2013-layout folder and a DiffusionFER-style CSV, 48x48 grey, generated."""
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "fer"
    for split, n in (("train", 6), ("validation", 2), ("test", 2)):
        for k, folder in enumerate(FER2013_FOLDERS):
            d = root / split / folder
            d.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 255, (48, 48), dtype=np.uint8)).save(d / f"{split}_{k}_{i}.jpg")
    va_dir = tmp_path / "va" / "images"
    va_dir.mkdir(parents=True)
    lines = ["subDirectory_filePath,valence,arousal,expression"]
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(va_dir / f"{i}.jpg")
        lines.append(f"images/{i}.jpg,{rng.uniform(-1, 1):.1f},{rng.uniform(-1, 1):.1f},{i % 7}")
    (tmp_path / "va" / "sheet.csv").write_text("\n".join(lines) + "\n")
    return root, tmp_path / "va" / "sheet.csv"


def _recipe(fer, va, out, **over) -> "ExperimentConfig":
    from affectkit.training.experiment import ExperimentConfig

    d = {"data": f"fer2013:{fer}", "mix": [{"data": f"affectnet_csv:{va}", "split": "train", "per_batch": 4}],
         "task": "multitask", "strategy": "full", "test_split": "validation", "seeds": [0], "out": str(out),
         "epochs": 2, "batch_size": 8, "network_size": 48, "label_smoothing": 0.1, "export_epoch": "last",
         "pretrained": False, "tta": "none"}
    return ExperimentConfig.from_dict({**d, **over})


@pytest.mark.slow
def test_the_default_recipe_resumes_from_its_last_epoch_and_chains_stages(tiny_data, tmp_path, cache, monkeypatch):
    """The default-model recipe is an ordinary experiment: FER-2013 with DiffusionFER mixed into each batch."""
    import affectkit.training.augment as aug
    from affectkit.training.experiment import run_experiment

    fer, va = tiny_data
    out = tmp_path / "stage1"
    calls = {"n": 0}
    real_augment = aug.augment_faces

    def dies_in_epoch_two(x, *args, **kwargs):
        calls["n"] += 1
        assert len(x) == 8 + 4  # 8 FER-2013 faces and 4 DiffusionFER faces in every batch
        if calls["n"] > 7:  # 5 steps per epoch (42 faces // 8)
            raise RuntimeError("simulated crash")
        return real_augment(x, *args, **kwargs)

    monkeypatch.setattr(aug, "augment_faces", dies_in_epoch_two)
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(_recipe(fer, va, out), command="affectkit train --config stage1.yaml")
    run = out / "seed_0" / "model"
    saved = load_state(run / "checkpoints" / "last.safetensors")
    assert saved["global_step"] == 5  # the finished first epoch survived
    assert not (run / "model.safetensors").exists()

    monkeypatch.setattr(aug, "augment_faces", real_augment)
    run_experiment(_recipe(fer, va, out), command="affectkit train --config stage1.yaml")  # resumes
    assert load_state(run / "checkpoints" / "last.safetensors")["global_step"] == 10
    path = run / "model.safetensors"
    rec = Recognizer(path, tta=False)
    training = rec.card["training"]
    assert training["config"]["epochs"] == 2 and training["config"]["mix_batch"] == [8, 4]
    assert training["command"] == "affectkit train --config stage1.yaml"
    assert training["exported_epoch"] == "last"
    assert training["train_data"]["part_sizes"][0] == 42
    assert rec.predict(np.zeros((48, 48), np.uint8)).shape[0] == 1

    # A second stage starts from the exported model and records its lineage.
    before = rec.net.expression_head.weight.detach().clone()
    run_experiment(_recipe(fer, va, tmp_path / "stage2", epochs=1, lr=1e-4, init_from=str(path)),
                   command="affectkit train --config stage2.yaml")
    rec2 = Recognizer(tmp_path / "stage2" / "seed_0" / "model" / "model.safetensors", tta=False)
    assert rec2.card["training"]["init_from_training"]["config"]["epochs"] == 2
    assert rec2.card["training"]["config"]["init_from"] == str(path)
    after = rec2.net.expression_head.weight.detach()
    # 5 AdamW steps at 1e-4 move a weight by < 1e-3; a fresh head would differ by ~0.03.
    assert 0 < (after - before).abs().max() < 5e-3


def test_mixed_batches_draw_fixed_shares_and_repeat_per_epoch():
    from affectkit.training.face_batches import MixedBatchSampler

    sampler = MixedBatchSampler([20, 6], [4, 2], seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 5
    for b in batches:
        assert len(b) == 6 and all(i < 20 for i in b[:4]) and all(20 <= i < 26 for i in b[4:])
    assert sorted(i for b in batches for i in b[:4]) == list(range(20))  # one pass over the first part
    assert list(sampler) == batches  # a function of seed and epoch (a resumed run draws the same)
    sampler.set_epoch(1)
    assert list(sampler) != batches
    with pytest.raises(ValueError):
        MixedBatchSampler([20, 1], [4, 2])


def test_the_shipped_recipe_configs_load():
    import yaml

    from affectkit.training.experiment import ExperimentConfig

    root = Path(__file__).resolve().parents[1] / "configs"
    stages = sorted(root.glob("default_stage*.yaml"))
    assert len(stages) >= 7
    for path in stages:
        raw = yaml.safe_load(path.read_text())
        # Teachers (stage 5) are checked on disk when the config loads; a clone has no runs.
        assert all(t.startswith("runs/default_stage") for t in raw.get("teachers", [])), path
        cfg = ExperimentConfig.from_dict({**raw, "out": "x", "teachers": []})
        assert cfg.test_split == "validation" and cfg.val_split == "validation", path  # PrivateTest is never read
        assert cfg.mix and cfg.train.task == "multitask", path
        if path.stem != "default_stage1":  # every later stage starts from an earlier stage's run
            assert raw["init_from"].startswith("runs/default_stage"), path


def test_augment_shapes_range_and_flip():
    x = torch.zeros(8, 1, 48, 48)
    x[..., :24] = 1.0  # left half bright
    y = augment_faces(x, 64, max_rotation_deg=0, scale_range=(1, 1), max_shift=0, brightness=0, contrast=0, cutout_p=0,
                      generator=torch.Generator().manual_seed(0))
    assert y.shape == (8, 1, 64, 64) and y.min() >= 0 and y.max() <= 1
    left_bright = y[..., :32].mean((1, 2, 3)) > y[..., 32:].mean((1, 2, 3))
    assert 0 < left_bright.sum() < 8  # some flipped, some not


def test_levers_build_the_targets_and_weights_they_document():
    from affectkit.training.finetune import FinetuneConfig, FinetuneModule, _effective_number_weights, class_prior

    prior = np.array([0.14, 0.015, 0.14, 0.25, 0.17, 0.11, 0.175])
    w = _effective_number_weights(prior)
    assert w.mean() == pytest.approx(1) and w.argmax() == 1 and w.argmin() == 3  # disgust heaviest, happiness lightest

    votes = torch.tensor([[0.6, 0, 0, 0, 0.4, 0, 0], [float("nan")] * 7, [float("nan")] * 7])
    y = torch.tensor([0, 3, -1])
    cfg = dict(pretrained=False, network_size=48, label_smoothing=0.0)
    m = FinetuneModule(FinetuneConfig(**cfg, soft_targets=True, soft_weight=0.5), steps_per_epoch=1, class_prior=prior)
    target, has = m.class_targets(y, votes)
    assert has.tolist() == [True, True, False]
    assert target[0].tolist() == pytest.approx([0.8, 0, 0, 0, 0.2, 0, 0])  # half votes, half label
    assert target[1].tolist() == pytest.approx([0, 0, 0, 1, 0, 0, 0])  # no votes: the label
    m = FinetuneModule(FinetuneConfig(**cfg, soft_targets=False), steps_per_epoch=1)
    assert m.class_targets(y, votes)[0][0].tolist() == pytest.approx([1, 0, 0, 0, 0, 0, 0])

    # Logit adjustment lowers the loss of a rare-class prediction less than plain CE would.
    logits = {"logits": torch.zeros(1, 7), "va": torch.zeros(1, 2)}
    onehot = torch.nn.functional.one_hot(torch.tensor([1]), 7).float()
    plain = FinetuneModule(FinetuneConfig(**cfg), 1, prior).losses(logits, onehot, torch.tensor([True]), torch.full((1, 2), float("nan")))
    adjusted = FinetuneModule(FinetuneConfig(**cfg, class_balance="logit_adjust"), 1, prior).losses(
        logits, onehot, torch.tensor([True]), torch.full((1, 2), float("nan")))
    assert adjusted["cls"] > plain["cls"]  # the rare class must earn a larger margin

    from affectkit.data.faceset import FaceSet

    faces = FaceSet(np.zeros((3, 4, 4), np.uint8), np.array([0, 3, -1]), np.full((3, 2), np.nan, np.float32),
                    [""] * 3, ["a", "b", "c"], {}, votes.numpy())
    assert class_prior(faces).tolist() == pytest.approx([0.3, 0, 0, 0.5, 0.2, 0, 0])


@pytest.mark.parametrize("kind", ["mixup", "cutmix"])
def test_mixing_pairs_valence_arousal_rows_with_each_other(kind):
    """Mixup/CutMix keep every valence/arousal target: a VA row's partner is another VA row."""
    from affectkit.training.finetune import FinetuneConfig, FinetuneModule

    torch.manual_seed(0)
    n, n_va = 128, 16
    m = FinetuneModule(FinetuneConfig(pretrained=False, network_size=48, **{kind: 1.0}), steps_per_epoch=1)
    x = torch.rand(n, 3, 48, 48)
    target = torch.nn.functional.one_hot(torch.randint(7, (n,)), 7).float()
    va = torch.full((n, 2), float("nan"))
    va[torch.randperm(n)[:n_va]] = torch.rand(n_va, 2) * 2 - 1
    before = torch.isfinite(va).all(1)
    for _ in range(5):
        _, mixed_target, has_cls, mixed_va = m._mix(x, target, torch.ones(n, dtype=torch.bool), va)
        after = torch.isfinite(mixed_va).all(1)
        assert torch.equal(after, before)  # the same rows, all 16, still carry valence/arousal
        assert mixed_va[after].abs().max() <= 1
        assert mixed_target.sum(1).tolist() == pytest.approx([1.0] * n)
