"""Late fusion on generated score sets whose correct weights are known.

No paired audio-visual emotion corpus is available, so the learning tests use synthetic
probabilities built so that the right answer is known by construction: a modality is
informative for some classes and pure noise (independent of the label) for the others.
"""

import json
import warnings

import numpy as np
import pytest
from scipy.special import softmax

from affectkit.expressions import EXPRESSIONS
from affectkit.fusion import (
    ClassMap,
    LateFusion,
    align_classes,
    ensemble_modalities,
    fuse_mean,
    fuse_weighted,
    learn_fusion_weights,
    search_class_weights,
    stacker_predict_proba,
)

EMODB = ("neutral", "anger", "boredom", "disgust", "fear", "happiness", "sadness")  # order deliberately not EXPRESSIONS'


def _informative(rng, y, classes, s=3.0):
    """``(N, len(classes))`` probabilities peaked at ``y`` when ``y`` is in ``classes``."""
    z = rng.normal(0, 1, (len(y), len(classes)))
    for j, c in enumerate(classes):
        z[:, j] += s * (y == c)
    return softmax(z, 1)


def complementary(n, seed, n_classes=6):
    """Modality A informative on the first half of the classes, B on the second half.

    Each modality's columns for the other half are pure noise: a random share ``t`` of
    the row's mass (independent of the label) spread by a spiky Dirichlet. So the
    correct per-class weights are A = 1, B = 0 on the first half and the reverse.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    half = n_classes // 2
    first, second = list(range(half)), list(range(half, n_classes))
    out = []
    for inf, noise in ((first, second), (second, first)):
        t = rng.uniform(0.3, 0.7, (n, 1))
        p = np.zeros((n, n_classes))
        p[:, noise] = t * rng.dirichlet(np.full(len(noise), 0.3), n)
        p[:, inf] = (1 - t) * _informative(rng, y, inf)
        out.append(p)
    return out, y


def one_informative(n, seed, n_classes=6):
    """Modality A informative on every class, B pure noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    a = _informative(rng, y, list(range(n_classes)), s=1.5)
    b = rng.dirichlet(np.full(n_classes, 0.3), n)
    return [a, b], y


def acc(p, y):
    return float((p.argmax(1) == y).mean())


# ----------------------------------------------------------------- learned weights


def test_class_weight_search_finds_the_known_weights_and_beats_baselines():
    (pv, yv), (pt, yt) = complementary(600, 0), complementary(3000, 1)
    r = search_class_weights(pv, yv)
    assert r["search"] == "coordinate"  # 8**6 combinations > exhaustive_limit
    expected = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=float)
    np.testing.assert_array_equal(r["weights"], expected)
    assert r["score"] > r["baseline"] + 0.2
    fused = acc(fuse_weighted(pt, r["weights"]), yt)
    # held-out: clearly better than each modality alone and than the plain mean
    assert fused > acc(pt[0], yt) + 0.2
    assert fused > acc(pt[1], yt) + 0.2
    assert fused > acc(fuse_mean(pt), yt) + 0.2


def test_exhaustive_and_coordinate_search_agree_on_a_small_problem():
    (pv, yv), (pt, yt) = complementary(600, 2, n_classes=4), complementary(2000, 3, n_classes=4)
    ex = search_class_weights(pv, yv)  # 8**4 = 4096 combinations: exhaustive
    co = search_class_weights(pv, yv, exhaustive_limit=0)
    assert ex["search"] == "exhaustive" and co["search"] == "coordinate"
    expected = np.array([[1, 1, 0, 0], [0, 0, 1, 1]], dtype=float)
    np.testing.assert_array_equal(ex["weights"], expected)
    np.testing.assert_array_equal(co["weights"], expected)
    assert ex["score"] >= co["score"]  # exhaustive is the optimum on validation
    assert acc(fuse_weighted(pt, ex["weights"]), yt) > acc(fuse_mean(pt), yt) + 0.15


def test_scalar_weight_goes_to_the_informative_modality():
    (pv, yv), (pt, yt) = one_informative(600, 4), one_informative(3000, 5)
    r = learn_fusion_weights(pv, yv)
    assert r["candidates"] == 21 and r["weights"].sum() == pytest.approx(1.0)
    assert r["weights"][0] >= 0.75, r["weights"]
    # the mirror image: noise first
    r2 = learn_fusion_weights(pv[::-1], yv)
    assert r2["weights"][1] >= 0.75, r2["weights"]
    assert acc(fuse_weighted(pt, r["weights"]), yt) > acc(fuse_mean(pt), yt) + 0.05


def test_grid_ties_go_to_the_plain_mean():
    # identical modalities: every weight vector gives the same predictions
    (a, _), y = complementary(200, 6)
    r = learn_fusion_weights([a, a], y)
    np.testing.assert_allclose(r["weights"], [0.5, 0.5])
    s = search_class_weights([a, a], y)
    np.testing.assert_array_equal(s["weights"], np.ones((2, 6)))


def test_logistic_stacker_learns_complementary_modalities():
    (pv, yv), (pt, yt) = complementary(1000, 7), complementary(3000, 8)
    r = learn_fusion_weights(pv, yv, "logistic")
    q = stacker_predict_proba(pt, r["stacker"])
    np.testing.assert_allclose(q.sum(1), 1.0)
    assert acc(q, yt) > acc(fuse_mean(pt), yt) + 0.2
    json.dumps(r["stacker"])  # JSON-able


def test_uar_metric_matches_the_metrics_module():
    from affectkit.evaluation.metrics import classification_report  # imports torch: only here

    pv, yv = complementary(400, 9)
    yv = np.where(yv == 5, 0, yv)  # unbalanced and a class with no sample
    pv[0][:40] = np.nan  # some samples without face, some without voice:
    pv[1][40:80] = np.nan  # the search must score them as fuse_weighted does
    for fn in (search_class_weights, lambda p, y, **kw: search_class_weights(p, y, exhaustive_limit=0, **kw),
               learn_fusion_weights):
        r = fn(pv, yv, metric="uar")
        pred = fuse_weighted(pv, r["weights"]).argmax(1)
        assert r["score"] == pytest.approx(classification_report(yv, pred, 6)["uar"])


def test_searches_are_deterministic_and_sample_order_invariant():
    pv, yv = complementary(500, 10)
    perm = np.random.default_rng(0).permutation(len(yv))
    for fn in (learn_fusion_weights, search_class_weights):
        a, b = fn(pv, yv), fn(pv, yv)
        c = fn([p[perm] for p in pv], yv[perm])
        np.testing.assert_array_equal(a["weights"], b["weights"])
        np.testing.assert_array_equal(a["weights"], c["weights"])
        assert a["score"] == c["score"]


# ----------------------------------------------------------------- class mapping


def _voice(n, seed=0):
    return np.random.default_rng(seed).dirichlet(np.ones(len(EMODB)), n)


def test_unmapped_classes_raise_with_their_names():
    with pytest.raises(ValueError, match="boredom"):
        align_classes(_voice(3), EMODB, EXPRESSIONS)
    ravdess = ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
    with pytest.raises(ValueError, match="calm"):
        ClassMap.build(ravdess, EXPRESSIONS)
    with pytest.raises(ValueError, match="boredum"):  # a typo in the rule is not ignored
        ClassMap.build(EMODB, EXPRESSIONS, mapping={"boredum": "neutral"})
    with pytest.raises(ValueError, match="calmness"):
        ClassMap.build(ravdess, EXPRESSIONS, mapping={"calm": "calmness"})
    with pytest.raises(ValueError, match="boredom"):
        LateFusion(EXPRESSIONS, {"face": EXPRESSIONS, "voice": EMODB})


def test_boredom_merge_sums_columns_and_coverage_marks_surprise():
    v = _voice(5)
    p, cov = align_classes(v, EMODB, EXPRESSIONS, mapping={"boredom": "neutral"})
    col = {n: i for i, n in enumerate(EMODB)}
    np.testing.assert_allclose(p[:, EXPRESSIONS.index("neutral")], v[:, col["neutral"]] + v[:, col["boredom"]])
    np.testing.assert_allclose(p[:, EXPRESSIONS.index("anger")], v[:, col["anger"]])
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert p[:, EXPRESSIONS.index("surprise")].max() == 0
    assert cov.tolist() == [c != "surprise" for c in EXPRESSIONS]
    lines = ClassMap.build(EMODB, EXPRESSIONS, mapping={"boredom": "neutral"}).describe()
    assert any("surprise: not covered" in s for s in lines) and any("neutral: sum of" in s for s in lines)


def test_drop_renormalises_and_lenient_rules_warn():
    v = _voice(4, seed=1)
    b = EMODB.index("boredom")
    p, _ = align_classes(v, EMODB, EXPRESSIONS, drop=["boredom"])
    rest = np.delete(v, b, axis=1) / (1 - v[:, [b]])
    order = [EMODB.index(c) - (EMODB.index(c) > b) for c in EXPRESSIONS if c != "surprise"]
    np.testing.assert_allclose(p[:, [i for i, c in enumerate(EXPRESSIONS) if c != "surprise"]], rest[:, order])
    np.testing.assert_allclose(p.sum(1), 1.0)
    with pytest.warns(UserWarning, match="boredom"):
        q, _ = align_classes(v, EMODB, EXPRESSIONS, on_missing="renorm")
    np.testing.assert_allclose(q, p)
    with pytest.warns(UserWarning, match="discarded"):
        z, _ = align_classes(v, EMODB, EXPRESSIONS, on_missing="zero")
    np.testing.assert_allclose(z.sum(1), 1 - v[:, b])  # the lost mass stays visible
    ravdess = ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")
    with pytest.warns(UserWarning, match="calm"):
        cm = ClassMap.build(ravdess, EXPRESSIONS, drop=["neutral"], on_missing="zero")
    assert cm.drop == ("neutral",) and cm.discard == ("calm",)
    assert ClassMap.from_dict(json.loads(json.dumps(cm.to_dict()))) == cm


def test_coverage_gives_surprise_from_the_face_only():
    rng = np.random.default_rng(2)
    face = rng.dirichlet(np.ones(7), 6)
    voice, vcov = align_classes(_voice(6), EMODB, EXPRESSIONS, mapping={"boredom": "neutral"})
    cov = np.stack([np.ones(7, bool), vcov])
    fused = fuse_mean([face, voice], cov, normalize=False)
    s, a = EXPRESSIONS.index("surprise"), EXPRESSIONS.index("anger")
    np.testing.assert_allclose(fused[:, s], face[:, s])  # not halved by the voice's missing column
    np.testing.assert_allclose(fused[:, a], (face[:, a] + voice[:, a]) / 2)
    without = fuse_mean([face, voice], normalize=False)  # no coverage: the voice's 0 drags it down
    np.testing.assert_allclose(without[:, s], face[:, s] / 2)
    np.testing.assert_allclose(fuse_mean([face, voice], cov).sum(1), 1.0)


def test_missing_modality_rows_fall_back_to_the_available_one():
    rng = np.random.default_rng(3)
    face, voice = rng.dirichlet(np.ones(7), 4), rng.dirichlet(np.ones(7), 4)
    face[1] = np.nan  # no face in clip 1
    voice[2] = np.nan  # no audio in clip 2
    face[3] = voice[3] = np.nan  # nothing in clip 3
    cov = np.ones((2, 7), bool)
    cov[1, EXPRESSIONS.index("surprise")] = False
    voice[:, EXPRESSIONS.index("surprise")] = np.where(np.isnan(voice[:, 0]), np.nan, 0.0)
    fused = fuse_weighted([face, voice], [0.9, 0.1], cov)
    v1 = voice[1] / voice[1].sum()
    np.testing.assert_allclose(fused[1], v1)  # voice alone (weight 0.1 does not matter)
    np.testing.assert_allclose(fused[2], face[2])
    assert np.isnan(fused[3]).all() and np.isfinite(fused[:3]).all()
    # a zero weight on the only available modality still gives its scores, not zeros
    np.testing.assert_allclose(fuse_weighted([face, voice], [1.0, 0.0], cov)[1], v1)


def test_bad_inputs_raise_clear_errors():
    p = np.full((3, 7), 1 / 7)
    with pytest.raises(ValueError, match="one shape"):
        fuse_mean([p, p[:2]])
    with pytest.raises(ValueError, match="partly NaN"):
        q = p.copy()
        q[0, 2] = np.nan
        fuse_mean([p, q])
    with pytest.raises(ValueError, match="negative"):
        fuse_mean([p, p - 0.5])
    with pytest.raises(ValueError, match="2-D"):
        fuse_mean([p[0], p[0]])
    with pytest.raises(ValueError, match="weights"):
        fuse_weighted([p, p], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="non-negative"):
        fuse_weighted([p, p], [1.0, -1.0])
    with pytest.raises(ValueError, match="coverage"):
        fuse_mean([p, p], np.ones((2, 6), bool))
    with pytest.raises(ValueError, match="columns"):
        align_classes(p[:, :6], EMODB, EXPRESSIONS, mapping={"boredom": "neutral"})
    with pytest.raises(ValueError, match="labels"):
        learn_fusion_weights([p, p], [0, 1, 9])
    with pytest.raises(ValueError, match="step"):
        learn_fusion_weights([p, p], [0, 1, 2], step=0.3)


# ----------------------------------------------------------------- model object


def _paired(n, seed):
    """Face (EXPRESSIONS order) and EmoDB-voice (EMODB order) scores built from complementary()."""
    (a, b), y = complementary(n, seed, n_classes=6)
    face_classes = [c for c in EXPRESSIONS if c != "neutral"]  # 6 classes: the label space
    face = np.zeros((n, 7))
    face[:, [EXPRESSIONS.index(c) for c in face_classes]] = a
    voice = np.zeros((n, 7))
    voice_cols = [c if c != "surprise" else "boredom" for c in face_classes]  # the voice "surprise" is boredom
    voice[:, [EMODB.index(c) for c in voice_cols]] = b
    labels = [face_classes[i] for i in y]
    return {"face": face, "voice": voice}, labels


def test_late_fusion_fit_predict_and_json_round_trip(tmp_path):
    (val, yv), (test, yt) = _paired(800, 11), _paired(1500, 12)
    # boredom is mapped to surprise here only because the synthetic voice puts that class there
    models = {
        m: LateFusion(EXPRESSIONS, {"face": EXPRESSIONS, "voice": EMODB}, mapping={"voice": {"boredom": "surprise"}},
                      method=m).fit(val, yv)
        for m in ("mean", "weighted", "class_weights", "logistic")
    }
    y = np.array([EXPRESSIONS.index(c) for c in yt])
    scores = {m: float((f.predict(test) == y).mean()) for m, f in models.items()}
    assert scores["class_weights"] > scores["mean"] + 0.15
    assert scores["logistic"] > scores["mean"] + 0.15
    w = models["class_weights"].weights
    surprise, anger = EXPRESSIONS.index("surprise"), EXPRESSIONS.index("anger")
    assert (w[0, anger], w[1, anger]) == (1.0, 0.0) and (w[0, surprise], w[1, surprise]) == (0.0, 1.0)
    for m, f in models.items():
        path = f.save(tmp_path / f"{m}.fusion.json")
        g = LateFusion.load(path)
        np.testing.assert_array_equal(g.predict_proba(test), f.predict_proba(test))
        assert json.loads(path.read_text())["rules"] == f.describe()


def test_late_fusion_seed_ensembles_and_missing_keys():
    (val, yv) = _paired(300, 13)
    f = LateFusion(EXPRESSIONS, {"face": EXPRESSIONS, "voice": EMODB}, mapping={"voice": {"boredom": "neutral"}})
    rng = np.random.default_rng(0)
    seeds = [rng.dirichlet(np.ones(7), 300) for _ in range(3)]
    np.testing.assert_allclose(
        f.predict_proba({"face": seeds, "voice": val["voice"]}),
        f.predict_proba({"face": np.mean(seeds, axis=0), "voice": val["voice"]}),
    )
    avg = ensemble_modalities({"face": seeds, "voice": val["voice"]})
    np.testing.assert_allclose(avg["face"], np.mean(seeds, axis=0))
    with pytest.raises(ValueError, match="voice"):
        f.predict_proba({"face": val["face"]})
    face = val["face"].copy()
    face[0] = np.nan
    pred = f.predict({"face": face, "voice": np.full_like(val["voice"], np.nan)})
    assert pred[0] == -1 and (pred[1:] >= 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a saved lenient model loads without re-warning
        LateFusion.from_dict(f.to_dict())


def test_saved_fusion_files_with_unknown_keys_are_refused():
    """A mistyped key in a saved class map or late-fusion model is an error naming it, not ignored."""
    from affectkit.errors import OptionError

    cm = ClassMap.build(EMODB, EXPRESSIONS, mapping={"boredom": "neutral"})
    with pytest.raises(OptionError, match="'drops'") as err:
        ClassMap.from_dict({**cm.to_dict(), "drops": ["anger"]})
    assert err.value.option == "drops" and "did you mean 'drop'" in str(err.value) and "\n" not in str(err.value)
    f = LateFusion(EXPRESSIONS, {"face": EXPRESSIONS, "voice": EMODB}, mapping={"voice": {"boredom": "neutral"}},
                   method="weighted", weights=[0.7, 0.3])
    saved = f.to_dict()
    assert LateFusion.from_dict(saved).weights.tolist() == f.weights.tolist()  # every key it writes is known
    mistyped = dict(saved)
    mistyped["wieghts"] = mistyped.pop("weights")
    with pytest.raises(ValueError, match="'wieghts'"):  # OptionError is a ValueError
        LateFusion.from_dict(mistyped)


def test_fusion_package_layers():
    """Class maps and fusion do not depend on the experimental weight learning."""
    import affectkit.fusion as fusion
    from affectkit.fusion import classes, combine, learn

    assert "affectkit.fusion.learn" not in {m for mod in (classes, combine) for m in _imported(mod)}
    assert set(fusion.__all__) >= {"ClassMap", "fuse_mean", "LateFusion", "learn_fusion_weights"}
    assert all(getattr(fusion, name) is not None for name in fusion.__all__)
    assert "Experimental" in learn.__doc__


def _imported(module) -> set[str]:
    import ast
    from pathlib import Path

    tree = ast.parse(Path(module.__file__).read_text())
    return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
