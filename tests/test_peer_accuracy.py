"""benchmarks/peer_accuracy.py: the paired comparison it writes into docs/peer_accuracy.md."""

import numpy as np
import pytest


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("peer_accuracy")


def test_paired_interval_brackets_the_difference(bench):
    rng = np.random.default_rng(1)
    a = rng.random(2000) < 0.70
    b = rng.random(2000) < 0.65
    lo, hi = bench._paired_ci(a, b)
    assert lo < a.mean() - b.mean() < hi and hi - lo < 0.08
    assert bench._paired_ci(a, a) == [0.0, 0.0]  # the same predictions: no difference in any resample


def test_compare_scores_both_systems_on_the_same_faces(bench):
    y = np.array([0, 1, 2, 3, 4, 5, 6, 6])
    ours = y.copy()
    peer = np.array([0, 0, 0, 3, 4, 5, 6, 0])
    r = bench._compare(y, ours, peer)
    assert r["n"] == 8 and r["affectkit"]["accuracy"] == 1.0 and r["fer"]["accuracy"] == pytest.approx(5 / 8)
    assert r["accuracy_difference_ci95"][0] > 0
    assert bench._lowest_recall(r["fer"]).startswith("disgust 0.0")
