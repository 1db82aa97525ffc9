"""Bad model files (weights, model cards, ImageNet weights) give one-line errors naming the file.

Issue #13: every malformed model file ends in ``WeightsError("FILE: problem")`` (or another
:class:`~affectkit.errors.AffectkitError`) from the library, and in exactly one
``error: FILE: problem`` line from the command line, never a traceback. Each case builds
its bad file in ``tmp_path`` from a small valid model of its kind.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from affectkit.errors import AffectkitError, UnknownNameError, WeightsError
from affectkit.expressions import EXPRESSIONS
from affectkit.load import load_model as load_any
from affectkit.models.card import card_path, load_model, read_card
from affectkit.models.weights import read_weights

runner = CliRunner()


# ----------------------------------------------------------------------------- helpers


def assert_one_line(exc: BaseException, start: Path | str) -> str:
    """The error's message is one line and starts with ``start`` (a path) and a colon."""
    msg = str(exc)
    assert "\n" not in msg and "\r" not in msg, msg
    assert msg.startswith(f"{start}: "), msg
    assert len(msg) < 400, msg
    return msg


def variant(src: Path, folder: Path, name: str, *, edit=None, card=None, weights: bytes | None = None) -> Path:
    """A copy of model ``src`` (weights + card) named ``name`` in ``folder``, with its card
    edited in place by ``edit(card)``, replaced by ``card``, or its weights by ``weights``."""
    dst = folder / f"{name}.safetensors"
    dst.write_bytes(src.read_bytes() if weights is None else weights)
    if card is None:
        card = json.loads(card_path(src).read_text())
        if edit is not None:
            edit(card)
    card_path(dst).write_text(card if isinstance(card, str) else json.dumps(card))
    return dst


def cli_error_line(result, name: str) -> str:
    """Exactly one ``error:`` line, naming ``name``; a clean non-zero exit, no traceback."""
    assert result.exit_code != 0, result.output
    # An uncaught exception would show here as the exception itself, not SystemExit.
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"error: {name}: "), lines[0]
    return lines[0]


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def voice_model(tmp_path_factory) -> Path:
    """A small fitted voice MLP, saved with its card."""
    from affectkit.audio.models import MLPClassifier, save_audio_model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype(np.float32)
    y = np.repeat([0, 1], 20)
    x[y == 1] += 2
    model = MLPClassifier(epochs=2, hidden=8).fit(x, y)
    return save_audio_model(model, tmp_path_factory.mktemp("voice") / "voice.safetensors", feature_kind="librosa",
                            feature_names=[f"f{i}" for i in range(6)], class_names=["anger", "happiness"])


@pytest.fixture(scope="module")
def temporal_model(tmp_path_factory) -> Path:
    """A small untrained temporal model (mean pooling over 8-d embeddings), with its card."""
    from affectkit.temporal.trainer import TemporalConfig, TemporalNet, _model_kwargs, export_temporal

    torch.manual_seed(0)
    cfg = TemporalConfig(model="gru", hidden=8, embedding="emotion")
    kwargs = _model_kwargs(cfg, 8, 3)
    net = TemporalNet("gru", kwargs, "classes", 8)
    card = {"kind": "temporal", "config": asdict(cfg), "classes": ["anger", "happiness", "neutral"], "input_dim": 8,
            "num_outputs": 3, "model_kwargs": kwargs, "sampling": {"rate": 2.0, "count": None, "face_size": 64}}
    return export_temporal(net, tmp_path_factory.mktemp("temporal") / "temporal.safetensors", card)


@pytest.fixture(scope="module")
def faces_folder(tmp_path_factory) -> Path:
    """``root/{train,test}/{happy,sad}/*.png``: 16 random 48x48 grey faces."""
    import cv2

    root = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("happy", "sad"):
            (root / split / cls).mkdir(parents=True)
            for i in range(4):
                cv2.imwrite(str(root / split / cls / f"{i}.png"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("img") / "face.png"
    cv2.imwrite(str(path), np.full((48, 48), 128, np.uint8))
    return path


# ----------------------------------------------------------------------------- weights files


def test_pickle_named_safetensors_is_refused_without_unpickling(tmp_path, untrained_model):
    net, _ = load_model(untrained_model)
    buf = tmp_path / "buf.pt"
    torch.save(net.state_dict(), buf)
    bad = variant(untrained_model, tmp_path, "pickled", weights=buf.read_bytes())
    with pytest.raises(WeightsError) as err:
        load_model(bad)
    msg = assert_one_line(err.value, bad)
    assert "pickle" in msg and "safetensors" in msg


@pytest.mark.parametrize("content, words", [
    (os.urandom(5000), "not a valid safetensors file"),
    (b"", "empty file"),
    (b"\x05\x00\x00\x00\x00\x00\x00\x00{abcd", "invalid JSON"),
])
def test_random_empty_or_broken_bytes_are_one_line(tmp_path, untrained_model, content, words):
    bad = variant(untrained_model, tmp_path, "bad", weights=content)
    with pytest.raises(WeightsError) as err:
        load_model(bad)
    assert words in assert_one_line(err.value, bad)


def test_truncated_download_is_named(tmp_path, untrained_model):
    data = untrained_model.read_bytes()
    bad = variant(untrained_model, tmp_path, "half", weights=data[: len(data) // 2])
    with pytest.raises(WeightsError) as err:
        read_weights(bad)
    assert "not a valid safetensors file" in assert_one_line(err.value, bad)


def test_missing_folder_or_card_given_as_weights(tmp_path, untrained_model):
    with pytest.raises(WeightsError) as err:
        load_model(tmp_path / "none.safetensors")
    assert "model file not found" in assert_one_line(err.value, tmp_path / "none.safetensors")
    folder = tmp_path / "dir.safetensors"
    folder.mkdir()
    for reader in (read_weights, load_model):
        with pytest.raises(WeightsError) as err:
            reader(folder)
        assert "is a folder, not a model file" in assert_one_line(err.value, folder)
    with pytest.raises(WeightsError) as err:
        read_weights(card_path(untrained_model))
    assert ".safetensors file beside it" in assert_one_line(err.value, card_path(untrained_model))


def test_card_missing_next_to_existing_weights_names_the_card(tmp_path, untrained_model):
    lonely = tmp_path / "lonely.safetensors"
    lonely.write_bytes(untrained_model.read_bytes())
    with pytest.raises(WeightsError) as err:
        load_model(lonely)
    assert "model card not found next to lonely.safetensors" in assert_one_line(err.value, card_path(lonely))


def test_weights_that_do_not_fit_the_card(tmp_path, untrained_model):
    from safetensors.torch import save_file

    state = read_weights(untrained_model)
    state["expression_head.weight"] = torch.zeros(5, state["expression_head.weight"].shape[1])
    del state["va_head.bias"]
    state["extra"] = torch.zeros(1)
    save_file(state, str(tmp_path / "w.safetensors"))
    bad = variant(untrained_model, tmp_path, "misfit", weights=(tmp_path / "w.safetensors").read_bytes())
    with pytest.raises(WeightsError) as err:
        load_model(bad)
    msg = assert_one_line(err.value, bad)
    assert "'va_head.bias'" in msg and "'extra'" in msg and "(5, 1280)" in msg
    # A card that names another backbone than the weights were made with.
    other = variant(untrained_model, tmp_path, "resnet", edit=lambda c: c["architecture"].update(backbone="resnet18"))
    with pytest.raises(WeightsError, match="do not fit the card's resnet18") as err:
        load_model(other)
    assert_one_line(err.value, other)


def test_model_trained_with_other_input_normalisation_is_refused(tmp_path, untrained_model):
    """A card recording another mean/std than the backbone's registry entry now uses (an
    EfficientNet-Lite0 model trained before its TF preprocessing was fixed) is refused in one
    line, instead of loading and running on inputs it was not trained on."""
    load_model(untrained_model)  # its own card matches
    old = variant(untrained_model, tmp_path, "oldnorm", edit=lambda c: c["input"].update(mean=[0.5, 0.5, 0.5]))
    with pytest.raises(WeightsError, match="trained with input mean") as err:
        load_model(old)
    msg = assert_one_line(err.value, old)
    assert "affectkit export" in msg


# ----------------------------------------------------------------------------- face cards


def _drop(key):
    return lambda c: c.pop(key)


FACE_CARD_CASES = {
    "no_architecture": (_drop("architecture"), "no 'architecture'"),
    "no_classes": (_drop("classes"), "no 'classes'"),
    "no_input": (_drop("input"), "no 'input'"),
    "architecture_list": (lambda c: c.update(architecture=["mobilenet_v2", 64]), "'architecture' must be an object"),
    "unknown_backbone": (lambda c: c["architecture"].update(backbone="nope"), "unknown backbone 'nope'"),
    "backbone_number": (lambda c: c["architecture"].update(backbone=3), "'architecture.backbone' must be"),
    "size_text": (lambda c: c["architecture"].update(network_size="abc"), "'architecture.network_size' must be a positive integer"),
    "size_negative": (lambda c: c["architecture"].update(network_size=-5), "'architecture.network_size' must be"),
    "size_bool": (lambda c: c["architecture"].update(network_size=True), "'architecture.network_size' must be"),
    "size_float": (lambda c: c["architecture"].update(network_size=64.5), "'architecture.network_size' must be"),
    "size_too_small": (lambda c: c["architecture"].update(network_size=8), "smallest input, 32 pixels"),
    "face_size_null": (lambda c: c["input"].update(face_size=None), "'input.face_size' must be"),
    "classes_text": (lambda c: c.update(classes="anger,fear"), "'classes' must be a list"),
    "classes_order": (lambda c: c.update(classes=list(reversed(EXPRESSIONS))), "class order"),
    "training_list": (lambda c: c.update(training=[]), "'training' must be an object"),
    "version_2": (lambda c: c.update(card_version=2), "unsupported card_version 2"),
    "version_true": (lambda c: c.update(card_version=True), "unsupported card_version true"),
    "version_text": (lambda c: c.update(card_version="1"), "unsupported card_version '1'"),
    "no_version": (_drop("card_version"), "no 'card_version'"),
    "unknown_kind": (lambda c: c.update(kind="banana"), "unknown model kind 'banana'; known: face, temporal, voice"),
}


@pytest.mark.parametrize("case", sorted(FACE_CARD_CASES))
def test_malformed_face_card_is_one_line_naming_the_card(tmp_path, untrained_model, case):
    edit, words = FACE_CARD_CASES[case]
    bad = variant(untrained_model, tmp_path, case, edit=edit)
    with pytest.raises(WeightsError) as err:
        load_model(bad)
    assert words in assert_one_line(err.value, card_path(bad))


@pytest.mark.parametrize("text, words", [
    ("[1, 2]", "must be a JSON object, got a JSON list"),
    ('"a string"', "must be a JSON object, got a JSON str"),
    ("{not json", "not valid JSON"),
    ("", "not valid JSON"),
])
def test_card_that_is_not_a_json_object(tmp_path, untrained_model, text, words):
    bad = variant(untrained_model, tmp_path, "odd", card=text)
    for reader in (load_model, read_card, load_any):
        with pytest.raises(WeightsError) as err:
            reader(bad)
        assert words in assert_one_line(err.value, card_path(bad))


def test_card_bytes_that_are_not_utf8(tmp_path, untrained_model):
    bad = variant(untrained_model, tmp_path, "latin", card="{}")
    card_path(bad).write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(WeightsError) as err:
        read_card(bad)
    assert "not valid JSON" in assert_one_line(err.value, card_path(bad))


def test_card_without_kind_is_inferred_and_new_exports_declare_it(tmp_path, untrained_model):
    assert json.loads(card_path(untrained_model).read_text())["kind"] == "face"
    old = variant(untrained_model, tmp_path, "old", edit=_drop("kind"))
    assert read_card(old)["kind"] == "face"
    net, card = load_model(old)
    assert card["kind"] == "face" and isinstance(net, torch.nn.Module)
    # Without kind and without what a face card holds, the kind cannot be told.
    nothing = variant(untrained_model, tmp_path, "nothing", edit=lambda c: [c.pop("kind"), c.pop("architecture")])
    with pytest.raises(WeightsError, match="no 'kind'") as err:
        read_card(nothing)
    assert_one_line(err.value, card_path(nothing))


# ----------------------------------------------------------------------------- wrong kind


def test_wrong_kind_names_the_model_and_where_it_belongs(untrained_model, voice_model, temporal_model):
    from affectkit.audio.models import load_audio_model
    from affectkit.temporal.trainer import load_temporal

    cases = [
        (load_model, voice_model, "is a voice model, not a face model", "analyze --audio"),
        (load_model, temporal_model, "is a temporal model, not a face model", "affectkit clip"),
        (load_audio_model, untrained_model, "is a face model, not a voice model", "analyze --model"),
        (load_temporal, untrained_model, "is a face model, not a temporal model", "analyze --model"),
        (load_temporal, voice_model, "is a voice model, not a temporal model", "analyze --audio"),
    ]
    for loader, path, words, hint in cases:
        with pytest.raises(WeightsError) as err:
            loader(path)
        msg = assert_one_line(err.value, path)
        assert words in msg and hint in msg


def test_bundled_voice_model_is_refused_as_a_face_model():
    from affectkit.audio.voice import bundled_voice_model

    path = bundled_voice_model()
    with pytest.raises(WeightsError) as err:
        load_model(path)
    assert "is a voice model" in assert_one_line(err.value, path)


def test_load_any_dispatches_on_kind(untrained_model, voice_model, temporal_model):
    from affectkit.audio.models import MLPClassifier
    from affectkit.models.network import EmotionNet
    from affectkit.temporal.trainer import TemporalNet

    for path, cls, kind in ((untrained_model, EmotionNet, "face"), (voice_model, MLPClassifier, "voice"),
                            (temporal_model, TemporalNet, "temporal")):
        model, card = load_any(path)
        assert isinstance(model, cls) and card["kind"] == kind


# ----------------------------------------------------------------------------- temporal cards


TEMPORAL_CARD_CASES = {
    "no_config": (_drop("config"), "no 'config'"),
    "config_list": (lambda c: c.update(config=[1]), "'config' must be an object"),
    "no_model": (lambda c: c["config"].pop("model"), "no 'config.model'"),
    "unknown_model": (lambda c: c["config"].update(model="rnn9"), "unknown temporal model 'rnn9'"),
    "bad_task": (lambda c: c["config"].update(task="both"), "'config.task' must be one of classes, va"),
    "bad_combination": (lambda c: c["config"].update(embedding="crops"), "not a valid temporal config"),
    "no_input_dim": (_drop("input_dim"), "no 'input_dim'"),
    "input_dim_text": (lambda c: c.update(input_dim="8"), "'input_dim' must be a positive integer"),
    "no_kwargs": (_drop("model_kwargs"), "no 'model_kwargs'"),
    "bad_kwargs": (lambda c: c["model_kwargs"].update(wings=2), "'model_kwargs' do not build a gru model"),
    "sampling_size": (lambda c: c["sampling"].update(size="big"), "'sampling.size' must be"),
    "classes_none": (lambda c: c.update(classes=None), "'classes' must be a list"),
}


@pytest.mark.parametrize("case", sorted(TEMPORAL_CARD_CASES))
def test_malformed_temporal_card(tmp_path, temporal_model, case):
    from affectkit.temporal.trainer import load_temporal

    edit, words = TEMPORAL_CARD_CASES[case]
    bad = variant(temporal_model, tmp_path, case, edit=edit)
    with pytest.raises(WeightsError) as err:
        load_temporal(bad)
    assert words in assert_one_line(err.value, card_path(bad))


def test_minimal_temporal_card_and_routing(tmp_path, temporal_model, untrained_model):
    from affectkit.temporal.trainer import is_temporal_model, load_temporal

    net, card = load_temporal(temporal_model)
    assert card["kind"] == "temporal" and not net.training
    minimal = variant(temporal_model, tmp_path, "minimal", card={"card_version": 1, "kind": "temporal"})
    with pytest.raises(WeightsError) as err:
        load_temporal(minimal)
    assert "no 'config'" in assert_one_line(err.value, card_path(minimal))
    # Routing never raises: a malformed card routes by its declared kind, or nowhere.
    assert is_temporal_model(minimal) and is_temporal_model(temporal_model)
    assert not is_temporal_model(untrained_model)
    assert not is_temporal_model(variant(untrained_model, tmp_path, "list", card="[1]"))
    assert not is_temporal_model(variant(untrained_model, tmp_path, "junk", card="\x00\xff"))
    assert not is_temporal_model(tmp_path / "absent.safetensors")


def test_temporal_weights_not_safetensors(tmp_path, temporal_model):
    from affectkit.temporal.trainer import load_temporal

    bad = variant(temporal_model, tmp_path, "rand", weights=os.urandom(3000))
    with pytest.raises(WeightsError) as err:
        load_temporal(bad)
    assert "not a valid safetensors file" in assert_one_line(err.value, bad)


# ----------------------------------------------------------------------------- voice cards


VOICE_CARD_CASES = {
    "no_features": (_drop("features"), "no 'features'"),
    "no_standardisation": (_drop("standardisation"), "no 'standardisation'"),
    "in_features_text": (lambda c: c["architecture"].update(in_features="6"), "'architecture.in_features' must be"),
    "dropout_2": (lambda c: c["architecture"].update(dropout=2), "'architecture.dropout' must be a number in [0, 1)"),
    "mean_short": (lambda c: c["standardisation"].update(mean=[0.0]), "'standardisation.mean' has 1 entries for 6"),
    "class_out_of_range": (lambda c: c.update(output_classes=[0, 7]), "'output_classes' 7 does not index"),
    "outputs_count": (lambda c: c.update(output_classes=[0]), "has 1 ids for 2 outputs"),
    "rate_text": (lambda c: c["features"].update(sample_rate="16k"), "'features.sample_rate' must be"),
}


@pytest.mark.parametrize("case", sorted(VOICE_CARD_CASES))
def test_malformed_voice_card(tmp_path, voice_model, case):
    from affectkit.audio.models import load_audio_model

    edit, words = VOICE_CARD_CASES[case]
    bad = variant(voice_model, tmp_path, case, edit=edit)
    with pytest.raises(WeightsError) as err:
        load_audio_model(bad)
    assert words in assert_one_line(err.value, card_path(bad))


def test_missing_voice_model_names_the_weights_file(tmp_path, voice_model):
    from affectkit.audio.models import load_audio_model

    with pytest.raises(WeightsError) as err:
        load_audio_model(tmp_path / "nothere.safetensors")
    assert "model file not found" in assert_one_line(err.value, tmp_path / "nothere.safetensors")
    lonely = tmp_path / "lonely.safetensors"
    shutil.copy(voice_model, lonely)
    with pytest.raises(WeightsError) as err:
        load_audio_model(lonely)
    assert "model card not found" in assert_one_line(err.value, card_path(lonely))


def test_voice_model_round_trip_still_loads(tmp_path, voice_model):
    from affectkit.audio.models import load_audio_model

    model, card = load_audio_model(voice_model)
    assert card["kind"] == "voice" and model.predict_proba(np.zeros((2, 6), np.float32)).shape == (2, 2)
    # A card with neither "kind" nor "modality" is checked as the kind asked for...
    anonymous = variant(voice_model, tmp_path, "anonymous", edit=lambda c: (c.pop("modality"), c.pop("kind", None)))
    assert load_audio_model(anonymous)[1]["kind"] == "voice"
    # ...and cannot be told apart when no kind is asked for.
    with pytest.raises(WeightsError, match="no 'kind'") as err:
        load_any(anonymous)
    assert_one_line(err.value, card_path(anonymous))


# ----------------------------------------------------------------------------- bundled models


def test_bundled_models_load_bit_identically():
    from safetensors.torch import load_file

    from affectkit.audio.models import load_audio_model
    from affectkit.audio.voice import bundled_voice_model
    from affectkit.models.network import EmotionNet
    from affectkit.models.recognizer import bundled_path

    path = bundled_path("default")
    net, card = load_model(path)
    assert card["kind"] == "face"
    ref = EmotionNet("mobilenet_v2", 80, pretrained=False).eval()
    ref.load_state_dict(load_file(str(path)))
    for (k, a), (_, b) in zip(net.state_dict().items(), ref.state_dict().items()):
        assert torch.equal(a, b), k
    x = torch.rand(2, 1, 48, 48)
    with torch.no_grad():
        assert torch.equal(net(x)["logits"], ref(x)["logits"])
    model, vcard = load_audio_model(bundled_voice_model())
    assert vcard["kind"] == "voice" and len(model.classes_) == vcard["architecture"]["n_outputs"]


def test_unknown_bundled_name_or_word(tmp_path):
    from affectkit.models.recognizer import Recognizer

    with pytest.raises(WeightsError) as err:
        Recognizer("defualt")
    assert "not a bundled model (bundled: default)" in assert_one_line(err.value, "defualt")


# ----------------------------------------------------------------------------- backbones and ImageNet weights


def test_unknown_backbone_lists_the_known_ones():
    from affectkit.models.backbones import create_backbone
    from affectkit.training.finetune import FinetuneConfig

    with pytest.raises(UnknownNameError) as err:
        create_backbone("nope", pretrained=False)
    msg = str(err.value)
    assert msg.startswith("unknown backbone 'nope'; available: ") and "mobilenet_v2" in msg and "\n" not in msg
    # Old callers caught KeyError; the command line catches ValueError and AffectkitError.
    assert isinstance(err.value, KeyError) and isinstance(err.value, ValueError)
    assert isinstance(err.value, AffectkitError)
    with pytest.raises(ValueError, match="unknown backbone 'nope'"):
        FinetuneConfig(backbone="nope")


@pytest.fixture(scope="module")
def mobilenet_state() -> dict:
    from affectkit.models.backbones import REGISTRY, build_full

    torch.manual_seed(0)
    return build_full(REGISTRY["mobilenet_v2"]).state_dict()


def test_backbone_weights_files(tmp_path, mobilenet_state):
    from safetensors.torch import save_file

    from affectkit.models.backbones import REGISTRY, build_full, create_backbone, pretrained_state

    good = tmp_path / "good.pth"
    torch.save({"state_dict": mobilenet_state}, good)
    module, _, _ = create_backbone("mobilenet_v2", weights=good)
    assert torch.equal(module.features[0][0].weight, mobilenet_state["features.0.0.weight"])

    cases = {
        "module.pth": (lambda p: torch.save(torch.nn.Linear(2, 2), p), "torch.nn.modules.linear.Linear"),
        "tensor.pth": (lambda p: torch.save(torch.zeros(3), p), "holds a Tensor, not a state dict"),
        "list.pth": (lambda p: torch.save([1, 2], p), "holds a list, not a state dict"),
        "mixed.pth": (lambda p: torch.save({"a": torch.zeros(1), "epoch": 3}, p), "'epoch' is a int"),
        "empty.pth": (lambda p: torch.save({}, p), "it is empty"),
        "random.pth": (lambda p: p.write_bytes(os.urandom(2000)), "not a PyTorch weights file"),
        "garbage.pth": (lambda p: p.write_bytes(b"\x80\x02garbage"), "not a PyTorch weights file (Unsupported"),
        "blank.pth": (lambda p: p.write_bytes(b""), "not a PyTorch weights file (empty file)"),
        "random.safetensors": (lambda p: p.write_bytes(os.urandom(2000)), "not a valid safetensors file"),
        "resnet.safetensors": (lambda p: save_file(build_full(REGISTRY["resnet18"]).state_dict(), str(p)),
                               "do not fit mobilenet_v2"),
    }
    for name, (make, words) in cases.items():
        path = tmp_path / name
        make(path)
        with pytest.raises(WeightsError) as err:
            create_backbone("mobilenet_v2", weights=path)
        assert words in assert_one_line(err.value, path), name
    with pytest.raises(WeightsError) as err:
        pretrained_state("mobilenet_v2", weights=tmp_path)
    assert "folder" in assert_one_line(err.value, tmp_path)


def test_feature_input_size_is_checked_not_clamped():
    from affectkit.data.faceset import FaceSet
    from affectkit.training.features import extract_features

    faces = FaceSet(np.zeros((2, 48, 48), np.uint8), np.zeros(2, np.int64), np.full((2, 2), np.nan, np.float32),
                    ["", ""], ["a", "b"])
    for size in (-3, 0, 16, 40.0):
        with pytest.raises(ValueError, match="input_size must be a whole number of pixels from 32 to 1024"):
            extract_features(faces, "mobilenet_v2", input_size=size, pretrained=False)
    with pytest.raises(UnknownNameError, match="has no tap or module 'nope'"):
        extract_features(faces, "mobilenet_v2", ["nope"], pretrained=False)


# ----------------------------------------------------------------------------- experiment.json


def test_failed_run_leaves_no_experiment_json_and_keeps_an_earlier_one(tmp_path, faces_folder, cache, monkeypatch):
    import affectkit.training.features as features
    from affectkit.training.experiment import ExperimentConfig, run_experiment

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash")

    cfg = dict(data=f"folder:{faces_folder}", strategy="features", val_split=None, input_size=32, pretrained=False)
    monkeypatch.setattr(features, "fit_predict_head", crash)
    fresh = tmp_path / "fresh"
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(ExperimentConfig.from_dict({**cfg, "out": str(fresh)}))
    assert not (fresh / "experiment.json").exists()
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "experiment.json").write_text('{"from": "a good run"}')
    with pytest.raises(RuntimeError, match="simulated crash"):
        run_experiment(ExperimentConfig.from_dict({**cfg, "out": str(earlier)}))
    assert json.loads((earlier / "experiment.json").read_text()) == {"from": "a good run"}
    monkeypatch.undo()
    report = run_experiment(ExperimentConfig.from_dict({**cfg, "out": str(earlier)}))
    written = json.loads((earlier / "experiment.json").read_text())
    assert written["strategy"] == "features" and "seeds" in report


# ----------------------------------------------------------------------------- command line


@pytest.fixture(scope="module")
def bad_face_models(tmp_path_factory, untrained_model) -> dict[str, tuple[Path, Path]]:
    """Name -> (model passed on the command line, the file the error must name)."""
    folder = tmp_path_factory.mktemp("bad")
    buf = folder / "state.pt"
    torch.save(read_weights(untrained_model), buf)
    out = {
        "pickle": variant(untrained_model, folder, "pickle", weights=buf.read_bytes()),
        "random": variant(untrained_model, folder, "random", weights=os.urandom(4000)),
    }
    out = {k: (p, p) for k, p in out.items()}
    for name, card_edit in (("noarch", _drop("architecture")),
                            ("badbackbone", lambda c: c["architecture"].update(backbone="nope")),
                            ("badsize", lambda c: c["architecture"].update(network_size="abc"))):
        p = variant(untrained_model, folder, name, edit=card_edit)
        out[name] = (p, card_path(p))
    p = variant(untrained_model, folder, "list", card="[1, 2]")
    out["list"] = (p, card_path(p))
    return out


@pytest.mark.parametrize("case", ["pickle", "random", "noarch", "list", "badbackbone", "badsize"])
def test_cli_analyze_and_evaluate_with_a_bad_model(tmp_path, image, faces_folder, bad_face_models, case):
    model, named = bad_face_models[case]
    r = runner.invoke(app_(), ["analyze", str(image), "--faces-cropped", "--model", str(model),
                               "-o", str(tmp_path / "t.csv"), "-q"])
    cli_error_line(r, named)
    assert not (tmp_path / "t.csv").exists()
    r = runner.invoke(app_(), ["evaluate", "--model", str(model), "--data", f"folder:{faces_folder}",
                               "--split", "test", "-o", str(tmp_path / "rep"), "-q"])
    cli_error_line(r, named)


def test_cli_voice_model_given_as_face_model(tmp_path, image, voice_model):
    r = runner.invoke(app_(), ["analyze", str(image), "--faces-cropped", "--model", str(voice_model),
                               "-o", str(tmp_path / "t.csv"), "-q"])
    assert "is a voice model, not a face model" in cli_error_line(r, str(voice_model))


def test_cli_clip_with_minimal_temporal_card(tmp_path, image, temporal_model):
    minimal = variant(temporal_model, tmp_path, "minimal", card={"card_version": 1, "kind": "temporal"})
    r = runner.invoke(app_(), ["clip", str(image), "--model", str(minimal), "-o", str(tmp_path / "c.csv"), "-q"])
    assert "no 'config'" in cli_error_line(r, str(card_path(minimal)))
    r = runner.invoke(app_(), ["evaluate", "--model", str(minimal), "--data", f"folder:{tmp_path}",
                               "-o", str(tmp_path / "rep"), "-q"])
    cli_error_line(r, str(card_path(minimal)))


@pytest.mark.parametrize("make, words", [
    (lambda p: torch.save(torch.nn.Linear(2, 2), p), "torch.load(weights_only=True) refuses it"),
    (lambda p: p.write_bytes(os.urandom(3000)), "not a PyTorch weights file"),
])
def test_cli_train_with_bad_imagenet_weights(tmp_path, faces_folder, make, words):
    weights = tmp_path / "imagenet.pth"
    make(weights)
    out = tmp_path / "run"
    r = runner.invoke(app_(), ["train", "faces", "--out", str(out), "--data", f"folder:{faces_folder}", "--val-split", "none",
                               "--weights", str(weights), "--epochs", "1", "-q"])
    assert words in cli_error_line(r, str(weights))
    assert not (out / "experiment.json").exists()


def test_cli_train_with_bad_safetensors_weights_and_init_from(tmp_path, faces_folder, voice_model):
    weights = tmp_path / "rand.safetensors"
    weights.write_bytes(os.urandom(3000))
    out = tmp_path / "run"
    r = runner.invoke(app_(), ["train", "faces", "--out", str(out), "--data", f"folder:{faces_folder}", "--val-split", "none",
                               "--weights", str(weights), "--epochs", "1", "-q"])
    cli_error_line(r, str(weights))
    r = runner.invoke(app_(), ["train", "faces", "--out", str(out), "--data", f"folder:{faces_folder}", "--val-split", "none",
                               "--init-from", str(voice_model), "--epochs", "1", "-q"])
    assert "is a voice model" in cli_error_line(r, str(voice_model))
    assert not out.exists()


def test_cli_train_unknown_backbone(tmp_path, faces_folder):
    out = tmp_path / "run"
    r = runner.invoke(app_(), ["train", "faces", "--out", str(out), "--data", f"folder:{faces_folder}", "--val-split", "none",
                               "--backbone", "nope", "-q"])
    assert r.exit_code != 0 and isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "unknown backbone 'nope'" in lines[0] and "mobilenet_v2" in lines[0], r.output
    assert not out.exists()


def test_cli_features_negative_input_size(tmp_path, faces_folder):
    out = tmp_path / "f.npz"
    r = runner.invoke(app_(), ["features", "--backbone", "mobilenet_v2", "--data", f"folder:{faces_folder}",
                               "-o", str(out), "--input-size", "-3", "-q"])
    assert r.exit_code != 0 and isinstance(r.exception, SystemExit), repr(r.exception)
    lines = [line for line in r.output.splitlines() if line.startswith("error:")]
    assert lines == ["error: input_size must be a whole number of pixels from 32 to 1024 for mobilenet_v2, got -3"], r.output
    assert not out.exists()


def test_cli_missing_voice_model_names_the_weights(tmp_path, media):
    missing = tmp_path / "nothere.safetensors"
    r = runner.invoke(app_(), ["analyze", str(media / "single_face.mp4"), "--audio", "--audio-model", str(missing),
                               "--faces-cropped", "--every", "36", "-o", str(tmp_path / "t.csv"), "-q"])
    assert "model file not found" in cli_error_line(r, str(missing))


def app_():
    # Imported on use: the command line module imports the pipeline.
    from affectkit.cli import app

    return app
