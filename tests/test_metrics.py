import numpy as np
import pytest
import torch

from affectkit.evaluation.metrics import (
    ccc,
    ccc_loss,
    classification_report,
    icc_3_1,
    icc_ulloa,
    mse,
    pcc,
    regression_report,
    rmse,
    sagr,
    sequence_ccc,
)


def test_ccc_known_values():
    x = np.linspace(-1, 1, 50)
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(-x, x) == pytest.approx(-1.0)
    # A constant offset lowers CCC but not correlation: 2·cov / (var + var + shift²),
    # with torchmetrics' sample (n - 1) moments.
    assert ccc(x + 0.5, x) == pytest.approx(2 * x.var(ddof=1) / (2 * x.var(ddof=1) + 0.25), rel=1e-6)
    with pytest.raises(ValueError):
        ccc([1.0], [1.0])


def test_ccc_loss_matches_metric():
    rng = np.random.default_rng(0)
    p, t = rng.normal(size=(64, 2)), rng.normal(size=(64, 2))
    loss = ccc_loss(torch.tensor(p), torch.tensor(t))
    expected = 1 - np.mean([ccc(p[:, k], t[:, k]) for k in range(2)])
    assert float(loss) == pytest.approx(expected, abs=1e-4)


def test_classification_report():
    r = classification_report(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)
    assert r["accuracy"] == pytest.approx(0.6)
    assert r["recall"][:3] == [0.5, 1.0, 0.0] and np.isnan(r["recall"][3])
    assert r["uar"] == pytest.approx(0.5)
    assert r["confusion"][0] == [1, 1, 0, 0]


# 3x3 toy, confusion rows = true: [3, 1, 0], [0, 1, 1], [2, 0, 2].
TOY_TRUE = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2])
TOY_PRED = np.array([0, 0, 0, 1, 1, 2, 2, 2, 0, 0])


def test_classification_report_by_hand():
    r = classification_report(TOY_TRUE, TOY_PRED, 3, class_names=["a", "b", "c"], target_distribution=[0.5, 0.25, 0.25])
    assert r["confusion"] == [[3, 1, 0], [0, 1, 1], [2, 0, 2]]
    assert r["accuracy"] == pytest.approx(0.6)
    assert r["recall"] == pytest.approx([0.75, 0.5, 0.5])
    assert r["uar"] == pytest.approx(7 / 12)
    # precision 3/5, 1/2, 2/3 -> F1 2/3, 1/2, 4/7
    assert r["macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 4 / 7) / 3)
    # Vielzeuf et al.: sum_c p_c * recall_c
    assert r["weighted_accuracy"] == pytest.approx(0.5 * 0.75 + 0.25 * 0.5 + 0.25 * 0.5)
    assert r["class_names"] == ["a", "b", "c"] and r["n"] == 10
    # uniform distribution -> weighted accuracy == UAR
    uni = classification_report(TOY_TRUE, TOY_PRED, 3, target_distribution=np.full(3, 1 / 3))
    assert uni["weighted_accuracy"] == pytest.approx(uni["uar"])
    assert classification_report(TOY_TRUE, TOY_PRED, 3)["weighted_accuracy"] is None


def test_classification_report_rejects_bad_arguments():
    with pytest.raises(ValueError, match="target_distribution"):
        classification_report(TOY_TRUE, TOY_PRED, 3, target_distribution=[0.5, 0.5])
    with pytest.raises(ValueError, match="target_distribution"):
        classification_report(TOY_TRUE, TOY_PRED, 3, target_distribution=[0.5, 0.6, -0.1])
    with pytest.raises(ValueError, match="class_names"):
        classification_report(TOY_TRUE, TOY_PRED, 3, class_names=["a"])


def test_macro_f1_ignores_classes_absent_from_both():
    r = classification_report(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 7)
    assert r["macro_f1"] == pytest.approx(1.0) and r["uar"] == pytest.approx(1.0)


def test_ccc_constant_prediction_is_zero_and_shift_lowers_it():
    x = np.linspace(-1, 1, 30)
    assert ccc(np.zeros(30), x) == pytest.approx(0.0)
    assert ccc(x + 0.3, x) < 1.0
    assert np.isnan(ccc(np.ones(5), np.ones(5)))


def test_pcc_scale_invariant_ccc_not():
    rng = np.random.default_rng(1)
    t = rng.uniform(-1, 1, 100)
    p = t + rng.normal(0, 0.2, 100)
    assert pcc(3 * p + 0.5, t) == pytest.approx(pcc(p, t))
    assert pcc(p, t) == pytest.approx(np.corrcoef(p, t)[0, 1])
    assert ccc(3 * p + 0.5, t) < ccc(p, t) - 0.1
    assert np.isnan(pcc(np.ones(5), t[:5]))


def test_mse_rmse():
    p, t = np.array([0.0, 0.5, -1.0]), np.array([0.0, 0.0, 1.0])
    assert mse(p, t) == pytest.approx((0.25 + 4) / 3)
    assert rmse(p, t) == pytest.approx(np.sqrt((0.25 + 4) / 3))


def test_icc_by_hand():
    x, y = np.array([1.0, 2, 3, 4]), np.array([2.0, 2, 4, 5])
    # Two-way ANOVA of the 4 x 2 table by hand: grand mean 2.875, SS_rows 11.375,
    # SS_cols 1.125, SS_total 12.875, SS_err 0.375 -> BMS 11.375/3, EMS 0.125,
    # ICC(3,1) = (BMS - EMS) / (BMS + EMS) = 44/47.
    assert icc_3_1(x, y) == pytest.approx(44 / 47)
    # Ulloa et al.: 2 cov / (var x + var y) = 2 (5.5/3) / (5/3 + 6.75/3) = 44/47 too.
    assert icc_ulloa(x, y) == pytest.approx(2 * np.cov(x, y)[0, 1] / (x.var(ddof=1) + y.var(ddof=1)))
    assert icc_ulloa(x, y) == pytest.approx(44 / 47)
    # consistency ICC ignores a rater's offset; CCC does not
    assert icc_3_1(x, y + 10) == pytest.approx(44 / 47)
    assert ccc(x, y + 10) < 0.1


def test_sagr_zero_agrees_only_with_zero():
    p = np.array([0.5, -0.2, 0.0, 0.1, -0.3])
    t = np.array([0.4, 0.3, 0.0, -0.1, -0.9])
    assert sagr(p, t) == pytest.approx(0.6)
    assert sagr([0.0], [0.2]) == 0.0


def test_regression_report():
    rng = np.random.default_rng(2)
    t = rng.uniform(-1, 1, (50, 2))
    p = t + rng.normal(0, 0.1, (50, 2))
    r = regression_report(p, t)
    assert r["n"] == 50 and set(r["valence"]) == {"ccc", "pcc", "rmse", "mse", "icc_ulloa", "icc_3_1", "sagr"}
    assert r["arousal"]["ccc"] == pytest.approx(ccc(p[:, 1], t[:, 1]))
    assert r["valence"]["rmse"] == pytest.approx(np.sqrt(r["valence"]["mse"]))
    assert r["mean_ccc"] == pytest.approx((r["valence"]["ccc"] + r["arousal"]["ccc"]) / 2)
    assert list(regression_report(p[:, 1], t[:, 1], names=("arousal",))) == ["n", "arousal", "mean_ccc"]
    with pytest.raises(ValueError, match="N >= 2"):
        regression_report(p[:1], t[:1])
    with pytest.raises(ValueError):
        regression_report(p, t[:, 0])
    with pytest.raises(ValueError, match="names"):
        regression_report(np.zeros((5, 3)), np.zeros((5, 3)))
    with pytest.raises(ValueError):
        icc_3_1([1.0, 2.0], [1.0, 2.0, 3.0])


def test_sequence_ccc_averages_per_sequence():
    a = np.linspace(-1, 1, 20)
    b = np.linspace(0, 1, 10)
    preds, targets = [a, b + 0.2, np.array([0.3])], [a, b, np.array([0.1])]
    assert sequence_ccc(preds, targets) == pytest.approx((1.0 + ccc(b + 0.2, b)) / 2)
    assert np.isnan(sequence_ccc([np.array([1.0])], [np.array([1.0])]))
    with pytest.raises(ValueError):
        sequence_ccc([a], [a, a])
