import numpy as np
import pytest

from affectkit.evaluation.metrics import regression_report
from affectkit.evaluation.protocols import (
    ensemble,
    format_mean_std,
    leave_one_subject_out,
    subject_kfold,
    summarize_seeds,
)
from affectkit.evaluation.runner import Prediction, classification_scorer, run


def _data(seed=0, n_subjects=12, per_subject=15, n_classes=3):
    """Separable 2-D features, 3 classes, a subject offset, and a linear valence/arousal."""
    rng = np.random.default_rng(seed)
    groups = np.repeat(np.arange(n_subjects) * 7 + 100, per_subject)  # non-contiguous ids
    labels = rng.integers(0, n_classes, len(groups))
    centers = np.array([[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]])
    x = centers[labels] + rng.normal(0, 0.7, (len(groups), 2)) + rng.normal(0, 0.3, (n_subjects, 2))[groups // 7 - 100 // 7]
    va = np.tanh(0.2 * x + rng.normal(0, 0.05, x.shape))
    return x, labels, groups, va


def _nearest_centroid(x, labels, va=None):
    def fit_predict(tr, te):
        classes = np.unique(labels[tr])
        cent = np.stack([x[tr][labels[tr] == c].mean(0) for c in classes])
        d = ((x[te, None, :] - cent[None]) ** 2).sum(-1)
        proba = np.zeros((len(te), 3))
        proba[:, classes] = np.exp(-d) / np.exp(-d).sum(1, keepdims=True)
        out = {"proba": proba}
        if va is not None:
            a = np.c_[x[tr], np.ones(len(tr))]
            w, *_ = np.linalg.lstsq(a, va[tr], rcond=None)
            out["va"] = np.c_[x[te], np.ones(len(te))] @ w
        return out

    return fit_predict


def test_subject_kfold_is_subject_independent_and_covers_all():
    _, labels, groups, _ = _data()
    for kw in ({}, {"labels": labels}):
        folds = subject_kfold(groups, 4, seed=3, **kw)
        assert len(folds) == 4
        test = np.concatenate([te for _, te in folds])
        assert np.array_equal(np.sort(test), np.arange(len(groups)))  # each index once
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
            assert len(tr) + len(te) == len(groups)
    same = subject_kfold(groups, 4, seed=3)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(subject_kfold(groups, 4, seed=3), same))
    other = subject_kfold(groups, 4, seed=4)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(other, same))
    with pytest.raises(ValueError, match="subjects"):
        subject_kfold(groups, 13)


def test_leave_one_subject_out():
    _, _, groups, _ = _data()
    folds = leave_one_subject_out(groups)
    assert len(folds) == len(np.unique(groups))
    for tr, te in folds:
        assert len(np.unique(groups[te])) == 1 and groups[te[0]] not in set(groups[tr])
    with pytest.raises(ValueError):
        leave_one_subject_out(np.zeros(5))


def _runner_fit_predict(x, labels, va=None):
    """The nearest-centroid model as the experiment runner's fit_predict."""
    fit = _nearest_centroid(x, labels, va)

    def fit_predict(tr, te, seed, fold):
        out = fit(tr, te)
        return Prediction(proba=out["proba"], va=out.get("va"), y_true=labels[te])

    return fit_predict


def _score(labels, va=None):
    classes = classification_scorer(3)

    def score(p):
        report = classes(p)
        if va is not None and p.va is not None:
            report.update(regression_report(p.va, va[p.index]))
        return report

    return score


def test_runner_pools_subject_folds():
    x, labels, groups, va = _data()
    rep = run("kfold:4", [0], _runner_fit_predict(x, labels, va), _score(labels, va), groups=groups).to_dict()
    pooled, seed = rep["pooled"], rep["seeds"][0]
    assert pooled["n"] == len(labels) and np.sum(pooled["confusion"]) == len(labels)
    assert pooled["accuracy"] > 0.9
    assert pooled["valence"]["ccc"] > 0.8 and pooled["arousal"]["ccc"] > 0.8
    # The seed's per-fold summary: 4 folds that together hold every item once.
    assert seed["folds"]["n"]["n"] == 4 and sum(seed["folds"]["n"]["values"]) == len(labels)


def test_runner_is_at_chance_on_shuffled_labels():
    x, labels, groups, _ = _data()
    shuffled = np.random.default_rng(1).permutation(labels)
    rep = run("loso", [0], _runner_fit_predict(x, shuffled), _score(shuffled), groups=groups).to_dict()
    assert abs(rep["pooled"]["accuracy"] - 1 / 3) < 0.15
    assert "valence" not in rep["pooled"]



def test_summarize_seeds_matches_numpy():
    reports = [
        {"accuracy": a, "uar": u, "recall": [a], "valence": {"ccc": c}, "weighted_accuracy": None}
        for a, u, c in [(0.6, 0.5, 0.3), (0.7, 0.55, 0.4), (0.65, 0.45, 0.2)]
    ]
    s = summarize_seeds(reports)
    assert set(s) == {"accuracy", "uar", "valence/ccc"}
    assert s["accuracy"]["mean"] == pytest.approx(np.mean([0.6, 0.7, 0.65]))
    assert s["valence/ccc"]["std"] == pytest.approx(np.std([0.3, 0.4, 0.2], ddof=1))
    assert s["uar"]["n"] == 3 and s["uar"]["values"] == [0.5, 0.55, 0.45]
    one = summarize_seeds(reports[:1], keys=["accuracy"])
    assert list(one) == ["accuracy"] and np.isnan(one["accuracy"]["std"])
    with pytest.raises(KeyError):
        summarize_seeds(reports, keys=["nope"])


def test_format_mean_std():
    assert format_mean_std({"mean": 0.68512, "std": 0.0042}) == "68.51 ± 0.42"
    assert format_mean_std({"mean": 0.5, "std": float("nan")}, scale=1, digits=3) == "0.500"


def test_ensemble_confident_right_beats_weakly_wrong():
    right = np.array([[0.9, 0.05, 0.05], [0.1, 0.85, 0.05]])
    wrong = np.array([[0.3, 0.4, 0.3], [0.4, 0.35, 0.25]])
    avg = ensemble([right, wrong])
    assert np.allclose(avg, (right + wrong) / 2)
    assert avg.argmax(1).tolist() == [0, 1]
    assert np.allclose(ensemble([right, wrong], weights=[0, 2]), wrong)
    with pytest.raises(ValueError):
        ensemble([right, wrong[:1]])
    with pytest.raises(ValueError):
        ensemble([right, wrong], weights=[1.0])
    with pytest.raises(ValueError):
        ensemble([])
