"""Distillation: the teachers' mean expression distribution becomes the training faces' soft target."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from affectkit.data.faceset import FaceSet
from affectkit.models.card import export_model
from affectkit.models.network import EmotionNet
from affectkit.models.recognizer import Recognizer
from affectkit.training.distill import teacher_distribution
from affectkit.training.experiment import ExperimentConfig, run_experiment


@pytest.fixture(scope="module")
def second_model(tmp_path_factory):
    torch.manual_seed(1)
    net = EmotionNet("mobilenet_v2", network_size=64, pretrained=False).eval()
    return export_model(net, tmp_path_factory.mktemp("teacher") / "t1.safetensors", recipe={"note": "test"})


def _faces(n: int = 12) -> FaceSet:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)
    return FaceSet(images, np.arange(n) % 7, np.full((n, 2), np.nan, np.float32), np.array(["s"] * n),
                   np.array([f"f{i}" for i in range(n)]), {"dataset": "noise"})


def test_teacher_distribution_is_the_mean_of_the_teachers(untrained_model, second_model):
    faces = _faces()
    a, _ = Recognizer(untrained_model, tta="flip").predict_arrays(faces.images)
    b, _ = Recognizer(second_model, tta="flip").predict_arrays(faces.images)
    assert not np.allclose(a, b, atol=1e-3)  # two different teachers, or the mean proves nothing
    mean = teacher_distribution([untrained_model, second_model], faces, tta="flip")
    assert mean.shape == (12, 7) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, (a + b) / 2, atol=1e-6)
    np.testing.assert_allclose(mean.sum(1), 1, atol=1e-5)
    # the images alone (how benchmarks/levers.py scores ensembles) give the same
    np.testing.assert_array_equal(teacher_distribution([untrained_model, second_model], faces.images, tta="flip"),
                                  mean)
    with pytest.raises(ValueError, match="at least one teacher"):
        teacher_distribution([], faces)


def test_teachers_turn_soft_targets_on_and_need_fine_tuning(untrained_model, tmp_path):
    cfg = ExperimentConfig(data="csv:x.csv", out=str(tmp_path), teachers=[str(untrained_model)])
    assert cfg.train.soft_targets
    with pytest.raises(ValueError, match="nope.safetensors: teacher model file not found"):
        ExperimentConfig(data="csv:x.csv", out=str(tmp_path), teachers=[str(tmp_path / "nope.safetensors")])
    with pytest.raises(ValueError, match="fine-tuning"):
        ExperimentConfig(data="csv:x.csv", out=str(tmp_path), strategy="features", teachers=[str(untrained_model)])


def test_the_student_trains_on_the_teachers_distribution(untrained_model, second_model, tmp_path, monkeypatch):
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(0)
    rows = []
    for i in range(16):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append({"path": f"{i}.png", "label": ["happiness", "sadness"][i % 2], "subject": "s",
                     "split": "train" if i < 12 else "test"})
    pd.DataFrame(rows).to_csv(tmp_path / "faces.csv", index=False)
    seen = {}

    class Stop(Exception):
        pass

    def fake_finetune(train, run_dir, cfg, **kw):
        seen.update(soft=train.soft, images=train.images, soft_targets=cfg.soft_targets, recipe=kw["recipe"])
        raise Stop

    monkeypatch.setattr("affectkit.training.finetune.finetune", fake_finetune)
    cfg = ExperimentConfig.from_dict({"data": f"csv:{tmp_path / 'faces.csv'}", "out": str(tmp_path / "run"),
                                      "val_split": None, "tta": "none", "soft_weight": 0.5,
                                      "teachers": [str(untrained_model), str(second_model)]})
    with pytest.raises(Stop):
        run_experiment(cfg)
    assert seen["soft_targets"] and seen["soft"].shape == (12, 7)
    expected = teacher_distribution([untrained_model, second_model], FaceSet(
        seen["images"], np.zeros(12, np.int64), np.full((12, 2), np.nan, np.float32), np.array(["s"] * 12),
        np.array([str(i) for i in range(12)]), {}), tta="none")
    np.testing.assert_allclose(seen["soft"], expected, atol=1e-6)
    # The student's card will hold each teacher's path and training section (its lineage).
    assert [t["model"] for t in seen["recipe"]["teachers"]] == [str(untrained_model), str(second_model)]
    assert seen["recipe"]["teachers"][0]["training"] == {"note": "test"}
