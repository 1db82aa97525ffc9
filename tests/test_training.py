import numpy as np
import pytest
import torch

from affectkit.expressions import FER2013_FOLDERS
from affectkit.models.recognizer import Recognizer
from affectkit.training.augment import augment_faces
from affectkit.training.checkpoint_io import load_state
from affectkit.training.multitask import MultitaskConfig, train_multitask


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


def test_a_stopped_run_resumes_from_its_last_epoch(tiny_data, tmp_path, cache, monkeypatch):
    import affectkit.training.multitask as mt

    fer, va = tiny_data
    out = tmp_path / "run"
    cfg = MultitaskConfig(epochs=2, batch_size=8, va_batch_size=4, network_size=48)
    calls = {"n": 0}
    real_augment = mt.augment_faces

    def dies_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 7:  # 5 steps per epoch (42 faces // 8)
            raise RuntimeError("simulated crash")
        return real_augment(*args, **kwargs)

    monkeypatch.setattr(mt, "augment_faces", dies_in_epoch_two)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_multitask(fer, va, out, cfg, progress=False)
    saved = load_state(out / "checkpoints" / "last.safetensors")
    assert saved["global_step"] == 5  # the finished first epoch survived
    assert not (out / "model.safetensors").exists()

    monkeypatch.setattr(mt, "augment_faces", real_augment)
    path = train_multitask(fer, va, out, cfg, progress=False)  # resumes from last.safetensors
    final = load_state(out / "checkpoints" / "last.safetensors")
    assert final["global_step"] == 10
    rec = Recognizer(path, tta=False)
    assert rec.card["training"]["config"]["epochs"] == 2
    assert rec.card["training"]["command"].startswith("affectkit train --fer ")
    assert rec.predict(np.zeros((48, 48), np.uint8)).shape[0] == 1

    # A second stage starts from the exported model and records its lineage.
    stage2 = MultitaskConfig(epochs=1, batch_size=8, va_batch_size=4, network_size=48, lr=1e-4, init_from=str(path))
    before = rec.net.expression_head.weight.detach().clone()
    path2 = train_multitask(fer, va, tmp_path / "stage2", stage2, progress=False)
    rec2 = Recognizer(path2, tta=False)
    assert rec2.card["training"]["init_from_training"]["config"]["epochs"] == 2
    assert "--init-from" in rec2.card["training"]["command"]
    after = rec2.net.expression_head.weight.detach()
    # 5 AdamW steps at 1e-4 move a weight by < 1e-3; a fresh head would differ by ~0.03.
    assert 0 < (after - before).abs().max() < 5e-3


def test_augment_shapes_range_and_flip():
    x = torch.zeros(8, 1, 48, 48)
    x[..., :24] = 1.0  # left half bright
    y = augment_faces(x, 64, max_rotation_deg=0, scale_range=(1, 1), max_shift=0, brightness=0, contrast=0, cutout_p=0,
                      generator=torch.Generator().manual_seed(0))
    assert y.shape == (8, 1, 64, 64) and y.min() >= 0 and y.max() <= 1
    left_bright = y[..., :32].mean((1, 2, 3)) > y[..., 32:].mean((1, 2, 3))
    assert 0 < left_bright.sum() < 8  # some flipped, some not
