import numpy as np
import pytest
import torch

from affectkit.evaluation.metrics import ccc, ccc_loss, classification_report


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
