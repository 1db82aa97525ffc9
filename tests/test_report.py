import json

import numpy as np
import pytest

from affectkit.evaluation.metrics import classification_report, regression_report
from affectkit.evaluation.runner import Prediction, classification_scorer, run
from affectkit.evaluation.report import plot_confusion, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _report():
    r = classification_report(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), 4)  # class 3: NaN recall
    rng = np.random.default_rng(0)
    t = rng.uniform(-1, 1, (20, 2))
    r.update(regression_report(t + rng.normal(0, 0.1, t.shape), t))
    r["command"] = ["affectkit", "evaluate", "--data", "x"]
    return r


def test_write_report_files_and_json_round_trip(tmp_path):
    r = _report()
    paths = write_report(r, tmp_path / "out", class_names=["a", "b", "c", "d"], title="Toy")
    assert set(paths) == {"json", "md", "png"} and all(p.exists() for p in paths.values())
    back = json.loads(paths["json"].read_text())
    assert back["recall"][3] is None and back["recall"][:3] == r["recall"][:3]
    assert back["confusion"] == r["confusion"] and back["valence"] == pytest.approx(r["valence"])
    md = paths["md"].read_text()
    assert md.startswith("# Toy")
    for text in ("| accuracy | 0.6000 |", "| d | n/a | 0 |", "## Confusion matrix", "| valence |", "affectkit evaluate --data x"):
        assert text in md
    assert paths["png"].read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left


def test_write_report_regression_only_has_no_png(tmp_path):
    t = np.linspace(-1, 1, 10)
    paths = write_report(regression_report(t, t), tmp_path)
    assert set(paths) == {"json", "md"}
    assert "| valence | 1.0000 |" in paths["md"].read_text()


def test_write_report_cross_validation_result(tmp_path):
    labels = np.array([0, 1] * 10)
    groups = np.repeat(np.arange(5), 4)
    rep = run("loso", [0, 1], lambda tr, te, seed, fold: Prediction(pred=labels[te], y_true=labels[te]),
              classification_scorer(2), groups=groups).to_dict()
    paths = write_report(rep, tmp_path)
    assert json.loads(paths["json"].read_text())["pooled"]["n"] == 20
    md = paths["md"].read_text()
    assert "| accuracy | 1.0000 |" in md
    assert "| 0 | 1.0000 | 10 |" in md  # class ids as names without class_names


def test_plot_confusion_validates(tmp_path):
    path = plot_confusion([[5, 1], [0, 3]], ["x", "y"], tmp_path / "cm.png", normalize=False)
    assert path.read_bytes()[:8] == PNG_MAGIC
    with pytest.raises(ValueError):
        plot_confusion([[1, 2, 3]], ["x"], tmp_path / "bad.png")
    with pytest.raises(ValueError):
        write_report({"confusion": [[1, 0], [0, 1]], "recall": [1.0, 1.0]}, tmp_path, class_names=["x"])
