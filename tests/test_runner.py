"""The one experiment runner (affectkit.evaluation.runner) and the one protocol parser.

Tiny synthetic ``fit_predict`` functions whose outputs are written out by hand, so the
per-seed scores, the mean ± std over seeds, the seed ensemble and the headline can be
checked against numbers computed here.
"""

from __future__ import annotations

import numpy as np
import pytest

from affectkit.errors import AffectkitError, ProtocolError
from affectkit.evaluation.protocols import Protocol, parse_protocol
from affectkit.evaluation.runner import Prediction, Report, average, classification_scorer, run


def accuracy(p: Prediction, y: np.ndarray) -> dict:
    """A hand-checkable score: accuracy of argmax(proba) against y at the predicted items."""
    return {"n": len(p.index), "accuracy": float((p.proba.argmax(1) == y[p.index]).mean())}


# ----------------------------------------------------------------------------- the protocol string


@pytest.mark.parametrize("text,kind,k", [("split", "split", None), ("LOSO", "loso", None), (" kfold:5 ", "kfold", 5),
                                         ("kfold : 2", "kfold", 2)])
def test_parse_protocol_accepts_the_three_protocols(text, kind, k):
    p = parse_protocol(text)
    assert (p.kind, p.k) == (kind, k)
    assert parse_protocol(str(p)) == p and parse_protocol(p) is p
    assert p.by_subject == (kind != "split")


@pytest.mark.parametrize("text", ["kfold", "kfold:1", "kfold:0", "kfold:x", "kfold:²", "holdout", "", "split:3",
                                  "loso\nsplit"])
def test_bad_protocol_is_a_one_line_error_naming_it(text):
    with pytest.raises(ProtocolError) as info:
        parse_protocol(text)
    message = str(info.value)
    assert "\n" not in message and "split, kfold:K" in message and repr(text) in message
    # Callers that catch ValueError or AffectkitError (the command line) still catch it.
    assert isinstance(info.value, ValueError) and isinstance(info.value, AffectkitError)
    with pytest.raises(ProtocolError):
        Protocol("kfold", 1)


def test_the_experiment_configs_parse_the_protocol_the_same_way():
    from affectkit.training.experiment import ExperimentConfig

    assert ExperimentConfig(data="csv:x", out="o", protocol=" KFOLD:4").protocol == "kfold:4"
    with pytest.raises(ProtocolError, match="kfold:x"):
        ExperimentConfig(data="csv:x", out="o", protocol="kfold:x")


# ----------------------------------------------------------------------------- split: seeds, summary, ensemble

Y = np.array([0, 1, 0, 1, 0, 1, 0, 1])
# Test items 4..7 (true 0, 1, 0, 1). Seed 0 gets 2 of 4 right, seed 1 gets 3 of 4; their
# mean probabilities get items 4 and 5 right only.
PROBA = {
    0: np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.3, 0.7]]),
    1: np.array([[0.7, 0.3], [0.1, 0.9], [0.6, 0.4], [0.8, 0.2]]),
}


def split_fit_predict(calls: list):
    def fit_predict(tr, te, seed, fold):
        calls.append((tr.tolist(), te.tolist(), seed, fold))
        return Prediction(proba=PROBA[seed], y_true=Y[te])

    return fit_predict


def test_split_scores_each_seed_summarises_and_ensembles():
    calls: list = []
    rep = run("split", [0, 1], split_fit_predict(calls), lambda p: accuracy(p, Y), split=([0, 1, 2, 3], [4, 5, 6, 7]),
              config={"model": "toy"}, extra={"command": "toy run"})
    assert calls == [([0, 1, 2, 3], [4, 5, 6, 7], 0, 0), ([0, 1, 2, 3], [4, 5, 6, 7], 1, 0)]
    assert [r["accuracy"] for r in rep.runs] == [0.5, 0.75]
    assert [r["seed"] for r in rep.runs] == [0, 1]
    assert "folds" not in rep.runs[0]  # one fold: nothing to summarise over folds
    acc = rep.summary["accuracy"]
    assert acc["mean"] == pytest.approx(0.625) and acc["n"] == 2 and acc["values"] == [0.5, 0.75]
    assert acc["std"] == pytest.approx(np.sqrt(((0.5 - 0.625) ** 2 + (0.75 - 0.625) ** 2) / 1))  # sample std
    assert "seed" not in rep.summary
    np.testing.assert_allclose(rep.ensemble_prediction.proba, (PROBA[0] + PROBA[1]) / 2)
    assert rep.ensemble == {"n": 4, "accuracy": 0.5}
    assert rep.pooled is rep.ensemble  # the headline is the seed ensemble
    assert rep.predictions[1].seed == 1 and rep.predictions[1].index.tolist() == [4, 5, 6, 7]
    d = rep.to_dict()
    assert list(d) == ["config", "command", "seeds", "summary", "ensemble", "pooled"]
    assert d["config"] == {"model": "toy"} and d["seeds"] is rep.runs


def test_one_seed_has_no_ensemble_and_its_report_is_the_headline():
    rep = run("split", [1], split_fit_predict([]), lambda p: accuracy(p, Y), split=([0, 1, 2, 3], [4, 5, 6, 7]))
    assert rep.ensemble is None and rep.ensemble_prediction is None
    assert rep.pooled == {"seed": 1, "n": 4, "accuracy": 0.75}
    assert np.isnan(rep.summary["accuracy"]["std"]) and rep.summary["accuracy"]["mean"] == 0.75
    assert "ensemble" not in rep.to_dict()


def test_evaluating_saved_models_is_a_split_with_nothing_to_train():
    models = {"a.safetensors": PROBA[0], "b.safetensors": PROBA[1]}

    def load_and_predict(tr, te, name, fold):
        assert len(tr) == 0
        return Prediction(proba=models[name])

    rep = run("split", list(models), load_and_predict, lambda p: accuracy(p, Y), split=([], [4, 5, 6, 7]),
              run_key="model")
    d = rep.to_dict()
    assert [r["model"] for r in d["models"]] == ["a.safetensors", "b.safetensors"] and "seeds" not in d
    assert d["summary"]["accuracy"]["mean"] == pytest.approx(0.625) and d["pooled"]["accuracy"] == 0.5


def test_max_train_subsamples_the_training_side_per_seed():
    calls: list = []

    def fit_predict(tr, te, seed, fold):
        calls.append(tr)
        return Prediction(proba=PROBA[seed])

    rep = run("split", [0, 0, 1], fit_predict, lambda p: accuracy(p, Y), split=(np.arange(4), np.arange(4, 8)),
              max_train=2)
    assert all(len(tr) == 2 and set(tr) <= {0, 1, 2, 3} for tr in calls)
    assert calls[0].tolist() == calls[1].tolist()  # the same seed draws the same subset
    assert rep.ensemble is not None  # the test side is the same for every seed


# ----------------------------------------------------------------------------- subject protocols

GROUPS = np.repeat(["s0", "s1", "s2", "s3", "s4", "s5"], 2)  # 12 items, 2 per subject
YK = np.array([0, 1] * 6)


def fold_fit_predict(calls: list):
    """Right on every item of fold 0, and on the odd items only of the other folds."""

    def fit_predict(tr, te, seed, fold):
        calls.append((seed, fold, tr.copy(), te.copy()))
        right = (fold == 0) | (te % 2 == 1)
        pred = np.where(right, YK[te], 1 - YK[te])
        return Prediction(proba=np.eye(2)[pred], y_true=YK[te])

    return fit_predict


@pytest.mark.parametrize("protocol,n_folds", [("kfold:3", 3), ("loso", 6)])
def test_subject_protocols_pool_folds_and_summarise_them(protocol, n_folds):
    calls: list = []
    rep = run(protocol, [0, 1], fold_fit_predict(calls), lambda p: accuracy(p, YK), groups=GROUPS)
    assert len(calls) == 2 * n_folds
    for seed in (0, 1):
        folds = [c for c in calls if c[0] == seed]
        assert [c[1] for c in folds] == list(range(n_folds))
        tested = np.concatenate([c[3] for c in folds])
        assert sorted(tested.tolist()) == list(range(12))  # every item tested exactly once
        for _, _, tr, te in folds:
            assert not set(GROUPS[tr]) & set(GROUPS[te])  # no subject on both sides
            assert len(tr) + len(te) == 12
        if protocol == "loso":
            assert all(len(set(GROUPS[c[3]])) == 1 for c in folds)
        # Hand-computed: fold 0 all right, the other folds right on odd items only.
        fold_acc = [1.0 if c[1] == 0 else float((c[3] % 2 == 1).mean()) for c in folds]
        pooled_acc = (len(folds[0][3]) + sum(int((c[3] % 2 == 1).sum()) for c in folds[1:])) / 12
        r = rep.runs[seed]
        assert r["accuracy"] == pytest.approx(pooled_acc) and r["n"] == 12
        assert r["folds"]["accuracy"]["n"] == n_folds
        assert r["folds"]["accuracy"]["mean"] == pytest.approx(np.mean(fold_acc))
        assert r["folds"]["accuracy"]["std"] == pytest.approx(np.std(fold_acc, ddof=1))
        assert rep.predictions[seed].index.tolist() == list(range(12))  # pooled in item order
        assert rep.predictions[seed].fold == "all"
    if protocol == "loso":  # the same folds for every seed
        assert [c[3].tolist() for c in calls[:6]] == [c[3].tolist() for c in calls[6:]]
    assert rep.summary["accuracy"]["mean"] == pytest.approx(np.mean([r["accuracy"] for r in rep.runs]))
    assert rep.ensemble is not None and rep.ensemble["n"] == 12


def test_kfold_reshuffles_per_seed_and_stratifies_when_asked():
    calls: list = []
    run("kfold:2", [0, 1, 2, 3], fold_fit_predict(calls), lambda p: accuracy(p, YK), groups=GROUPS)
    firsts = {tuple(sorted(c[3].tolist())) for c in calls if c[1] == 0}
    assert len(firsts) > 1
    calls = []
    labels = np.array([0, 0, 1, 1] * 3)  # subjects s0, s2, s4 are class 0; s1, s3, s5 class 1
    run("kfold:3", [0], fold_fit_predict(calls), lambda p: accuracy(p, YK), groups=GROUPS, stratify=labels)
    for _, _, tr, te in calls:
        assert sorted(labels[te].tolist()) == [0, 0, 1, 1]  # each fold keeps the class mix


def test_subject_protocol_with_max_train_scores_only_the_subset_and_skips_a_mismatched_ensemble():
    calls: list = []
    rep = run("kfold:2", [0, 1], fold_fit_predict(calls), lambda p: accuracy(p, YK), groups=GROUPS, max_train=8)
    for seed in (0, 1):
        assert rep.runs[seed]["n"] == 8
    assert rep.predictions[0].index.tolist() != rep.predictions[1].index.tolist()
    assert rep.ensemble is None and rep.pooled is rep.runs[0]  # different faces: no ensemble to take


def test_classification_scorer_skips_unlabelled_items():
    score = classification_scorer(2, ["no", "yes"])
    p = Prediction(index=np.arange(4), proba=np.eye(2)[[0, 1, 1, 1]], y_true=np.array([0, 1, 0, -1]))
    rep = score(p)
    assert rep["n"] == 3 and rep["accuracy"] == pytest.approx(2 / 3) and rep["class_names"] == ["no", "yes"]
    with pytest.raises(ValueError):
        score(Prediction(index=np.arange(2), proba=np.eye(2)))


def test_average_means_probabilities_regression_and_steps():
    a = Prediction(index=np.arange(2), proba=np.array([[1.0, 0.0], [0.5, 0.5]]), va=np.array([[0.2, 0.4], [0.0, 0.0]]),
                   steps=[np.array([[0.0, 1.0]]), np.array([[1.0, 1.0], [0.0, 0.0]])])
    b = Prediction(index=np.arange(2), proba=np.array([[0.0, 1.0], [0.5, 0.5]]), va=np.array([[0.4, 0.0], [1.0, -1.0]]),
                   steps=[np.array([[1.0, 0.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])])
    e = average([a, b])
    np.testing.assert_allclose(e.proba, [[0.5, 0.5], [0.5, 0.5]])
    np.testing.assert_allclose(e.va, [[0.3, 0.2], [0.5, -0.5]])
    np.testing.assert_allclose(e.steps[1], [[0.5, 0.5], [0.5, 0.5]])
    assert e.seed == "ensemble"
    assert average([a, Prediction(index=np.array([0, 5]), proba=b.proba)]) is None  # different items
    assert average([Prediction(index=np.arange(2), pred=np.zeros(2))] * 2) is None  # nothing to average


def test_run_info_adds_to_each_seed_and_not_to_the_summary():
    rep = run("split", [0, 1], split_fit_predict([]), lambda p: accuracy(p, Y), split=([0, 1, 2, 3], [4, 5, 6, 7]),
              run_info=lambda seed: {"tuned": [{"C": seed}]})
    assert rep.runs[1]["tuned"] == [{"C": 1}] and set(rep.summary) == {"n", "accuracy"}


# ----------------------------------------------------------------------------- errors


def test_runner_errors():
    fp = split_fit_predict([])
    sc = lambda p: accuracy(p, Y)  # noqa: E731
    with pytest.raises(ProtocolError, match="split"):
        run("split", [0], fp, sc)
    with pytest.raises(ProtocolError, match="subject"):
        run("loso", [0], fp, sc)
    with pytest.raises(ProtocolError):
        run("kfold:one", [0], fp, sc, groups=GROUPS)
    with pytest.raises(ValueError, match="seed"):
        run("split", [], fp, sc, split=([0], [4, 5, 6, 7]))
    with pytest.raises(ValueError, match="both"):
        run("split", [0], fp, sc, split=([0, 4], [4, 5, 6, 7]))
    with pytest.raises(ValueError, match="integer seeds"):
        run("kfold:2", ["a"], fp, sc, groups=GROUPS)
    with pytest.raises(ValueError, match="rows"):
        run("split", [0], lambda tr, te, s, f: Prediction(proba=np.eye(2)), sc, split=([0], [4, 5, 6]))
    with pytest.raises(ValueError, match="none of"):
        run("split", [0], lambda tr, te, s, f: Prediction(), sc, split=([0], [4, 5]))
    with pytest.raises(TypeError, match="Prediction"):
        run("split", [0], lambda tr, te, s, f: {"proba": np.eye(2)}, sc, split=([0], [4, 5]))
    with pytest.raises(ValueError, match="index"):
        run("split", [0], lambda tr, te, s, f: Prediction(index=te[::-1], proba=np.eye(2)), sc, split=([0], [4, 5]))
    with pytest.raises(ValueError, match="subjects"):
        run("kfold:7", [0], fp, sc, groups=GROUPS)


def test_report_is_a_dataclass_with_the_protocol():
    rep = run("split", [0], split_fit_predict([]), lambda p: accuracy(p, Y), split=([0, 1, 2, 3], [4, 5, 6, 7]))
    assert isinstance(rep, Report) and rep.protocol == Protocol("split") and rep.run_key == "seed"


# ----------------------------------------------------------------------------- every protocol for voice


def _voice(n: int, classes: tuple[str, ...], speakers: int, seed: int):
    from affectkit.audio.dataset import AUDIO_EMOTIONS, AudioSet

    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(classes)
    x = rng.normal(0, 1, (n, len(AUDIO_EMOTIONS))).astype(np.float32)
    # One feature per emotion name is high: the same in every corpus, whatever its class order.
    x[np.arange(n), [AUDIO_EMOTIONS.index(classes[c]) for c in labels]] += 3.0
    spk = [f"{seed}-{i % speakers}" for i in range(n)]
    return AudioSet([f"{seed}_{i}.wav" for i in range(n)], labels, classes, spk, ["m", "f"] * (n // 2),
                    {"corpus": f"toy{seed}"}), x


def test_voice_split_protocol_trains_on_one_corpus_and_tests_on_another(tmp_path):
    from affectkit.audio.experiment import run_audio_experiment

    train, x = _voice(60, ("anger", "happiness", "neutral"), 5, 0)
    # The test corpus has a class the training corpus lacks, and its own class order.
    test, xt = _voice(40, ("neutral", "anger", "sadness", "happiness"), 5, 1)
    rep = run_audio_experiment(train, x, "rf", "split", seeds=(0, 1), out_dir=tmp_path, test=test, test_features=xt)
    shared = int(np.isin(test.labels, [0, 1, 3]).sum())  # neutral, anger, happiness
    assert rep["pooled"]["n"] == shared == rep["seeds"][0]["n"] == 30
    assert rep["config"]["test"] == {"corpus": "toy1", "n": 30, "speakers": 5, "dropped": {"sadness": 10}}
    assert rep["pooled"]["uar"] > 0.8  # classes matched by name, not by position
    assert rep["oof_proba"].shape == (30, 3) and "folds" not in rep["seeds"][0]
    assert "ensemble" in rep and (tmp_path / "report.json").is_file()
    with pytest.raises(ProtocolError, match="test set"):
        run_audio_experiment(train, x, "rf", "split", seeds=(0,))
    with pytest.raises(ValueError, match="test_features"):
        run_audio_experiment(train, x, "rf", "split", seeds=(0,), test=test)


def test_voice_loso_through_the_runner(tmp_path):
    from affectkit.audio.experiment import run_audio_experiment

    train, x = _voice(60, ("anger", "happiness", "neutral"), 5, 0)
    rep = run_audio_experiment(train, x, "rf", "loso", seeds=(0,))
    assert rep["seeds"][0]["folds"]["uar"]["n"] == 5 and rep["pooled"]["n"] == 60
    assert "seed" not in rep["pooled"]  # the voice headline of one seed, as before
    assert rep["headline"]["uar"] == f"{rep['summary']['uar']['mean'] * 100:.2f}"
