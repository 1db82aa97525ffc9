import numpy as np
import pytest

from affectkit.data.affectnet_csv import is_heldout, load_affectnet_csv
from affectkit.data.fer2013 import cross_split_duplicates, load_fer2013
from affectkit.errors import DataError


def test_fer2013_private_test_split(shared, cache):
    test = load_fer2013(shared / "data/fer2013", "test", cache=cache)
    assert test.images.shape == (3589, 48, 48) and test.images.dtype == np.uint8
    assert np.bincount(test.labels, minlength=7).min() > 0
    assert all(n.startswith("test/") for n in test.names)
    again = load_fer2013(shared / "data/fer2013", "test", cache=cache)  # from the cache
    assert np.array_equal(again.images, test.images)


def test_fer2013_csv_layout_and_duplicates(tmp_path):
    import pandas as pd

    rng = np.random.default_rng(0)
    pix = [rng.integers(0, 255, 48 * 48) for _ in range(4)]
    rows = [
        (3, pix[0], "Training"), (0, pix[1], "Training"),
        (3, pix[0], "PrivateTest"), (6, pix[2], "PrivateTest"), (5, pix[3], "PublicTest"),
    ]
    csv = tmp_path / "fer2013.csv"
    pd.DataFrame([(e, " ".join(map(str, p)), u) for e, p, u in rows], columns=["emotion", "pixels", "Usage"]).to_csv(csv, index=False)
    train, test = load_fer2013(csv, "train"), load_fer2013(csv, "test")
    assert list(test.labels) == [3, 6]
    assert list(cross_split_duplicates(test, train)) == [True, False]
    assert len(test.subset(~cross_split_duplicates(test, train))) == 1
    with pytest.raises(DataError, match="not found"):
        load_fer2013(tmp_path / "nope", "train")
    with pytest.raises(ValueError, match="split"):
        load_fer2013(csv, "dev")


def test_diffusionfer_heldout_split_is_fixed_and_disjoint(shared):
    csv = shared / "data/diffusionfer/dataset_sheet.csv"
    train, test = load_affectnet_csv(csv, "train"), load_affectnet_csv(csv, "test")
    assert len(train) + len(test) == 1285
    assert not set(train.names) & set(test.names)
    assert all(is_heldout(n) for n in test.names) and not any(is_heldout(n) for n in train.names)
    assert 0.15 < len(test) / 1285 < 0.25
    assert np.abs(train.va).max() <= 1 and train.images.shape[1:] == (48, 48)
    assert (train.labels >= 0).all()


def test_affectnet_csv_errors(tmp_path):
    bad = tmp_path / "sheet.csv"
    bad.write_text("subDirectory_filePath,valence\nx.jpg,0.1\n")
    with pytest.raises(DataError, match="missing columns"):
        load_affectnet_csv(bad)
    bad.write_text("subDirectory_filePath,valence,arousal,expression\nx.jpg,0.1,0.2,1\n")
    with pytest.raises(DataError, match=r"x\.jpg"):
        load_affectnet_csv(bad)
