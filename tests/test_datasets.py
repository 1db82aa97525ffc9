"""Face dataset loaders: each returns a FaceSet with canonical labels, subjects and provenance."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from affectkit.data.affectnet_csv import load_affectnet_csv
from affectkit.data.afew_va import load_afew_va, read_afew_va_clip
from affectkit.data.ckplus import load_ckplus
from affectkit.training.face_batches import FaceDataset
from affectkit.data.fer2013 import load_fer2013, load_fer2013_faceset
from affectkit.data.generic import load_csv, load_folder
from affectkit.data.rafdb import load_rafdb
from affectkit.data.registry import DATASETS, load_dataset
from affectkit.errors import DataError
from affectkit.expressions import EXPRESSIONS, FER2013_FOLDERS, class_index


def _save(path, value, shape=(20, 20)):
    """Write an image filled with ``value`` (or the given array) at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = value if isinstance(value, np.ndarray) else np.full(shape, value, np.uint8)
    Image.fromarray(arr).save(path)


def _bright_square_frame(h=120, w=100, box=(60, 30, 20)):
    """Dark RGB frame with a bright square at x0, y0, side; landmarks on a grid inside it."""
    x0, y0, side = box
    frame = np.full((h, w, 3), 10, np.uint8)
    frame[y0:y0 + side, x0:x0 + side] = 250
    grid = np.linspace(1, side - 2, 8)
    pts = np.array([(x0 + x, y0 + y) for x in grid for y in grid], np.float32)
    pts = np.concatenate([pts, pts[:4]])  # 64 grid points + 4 repeats = 68
    return frame, pts


# ---------------------------------------------------------------- generated trees


def _make_rafdb(root, aligned=True):
    rows = [("train_00001.jpg", 1, 40), ("train_00002.jpg", 7, 120), ("test_0001.jpg", 4, 200)]
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel/list_patition_label.txt").write_text("".join(f"{n} {c}\n" for n, c, _ in rows))
    for name, _, value in rows:
        stem = name[:-4]
        _save(root / ("Image/aligned" if aligned else "Image/original") / (f"{stem}_aligned.jpg" if aligned else name), value)
    return root


def _make_ckplus(root):
    """S005/001 surprise with landmarks on its peak frame; S010/002 contempt; S011/003 unlabelled."""
    frame, pts = _bright_square_frame()
    seqs = {("S005", "001"): (7, 4), ("S010", "002"): (2, 3), ("S011", "003"): (None, 2)}
    for (subject, seq), (code, n) in seqs.items():
        for k in range(1, n + 1):
            _save(root / f"cohn-kanade-images/{subject}/{seq}/{subject}_{seq}_{k:08d}.png", frame)
        if code is not None:
            emo = root / f"Emotion/{subject}/{seq}/{subject}_{seq}_{n:08d}_emotion.txt"
            emo.parent.mkdir(parents=True)
            emo.write_text(f"   {code:.7e}\n")
    lm = root / "Landmarks/S005/001/S005_001_00000004_landmarks.txt"
    lm.parent.mkdir(parents=True)
    np.savetxt(lm, pts, fmt="%.7e")
    return root


def _make_afew_clip(root, clip="007"):
    frame, pts = _bright_square_frame()
    frames = {}
    for k in range(3):
        _save(root / clip / f"{k:05d}.png", frame)
        frames[f"{k:05d}"] = {"valence": -10 + 5 * k, "arousal": 3.0, "landmarks": pts.tolist()}
    (root / clip / f"{clip}.json").write_text(json.dumps({"actor": "A. Actor", "video_id": clip, "frames": frames}))
    return root


def _make_fer_folder(root, duplicate):
    """Kaggle layout: one face per class and split; ``duplicate`` is planted in train and test."""
    rng = np.random.default_rng(1)
    for split in ("train", "validation", "test"):
        for folder in FER2013_FOLDERS:
            _save(root / split / folder / f"{split}_{folder}.jpg", rng.integers(0, 255, (48, 48), dtype=np.uint8))
    _save(root / "train/happy/dup.jpg", duplicate)
    _save(root / "test/sad/dup.jpg", duplicate)
    return root


def _make_fer_csv(path):
    rng = np.random.default_rng(0)
    pix = [" ".join(map(str, rng.integers(0, 255, 48 * 48))) for _ in range(5)]
    rows = [
        (3, pix[0], "Training"), (0, pix[1], "Training"),
        (5, pix[2], "PublicTest"), (3, pix[0], "PublicTest"),  # duplicate of a train face
        (3, pix[0], "PrivateTest"), (4, pix[2], "PrivateTest"), (6, pix[3], "PrivateTest"), (1, pix[4], "PrivateTest"),
    ]
    pd.DataFrame(rows, columns=["emotion", "pixels", "Usage"]).to_csv(path, index=False)
    return path


def _make_ferplus(root):
    """data/fer2013/test/<class>/*.jpg and data/ferplus/ferplus_labels.csv, FER+'s shared layout."""
    from affectkit.expressions import FER2013_FOLDERS

    for folder in FER2013_FOLDERS:  # the loader wants every class folder, even an empty one
        (root / "fer2013" / "test" / folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    rows = []
    for i, (folder, votes) in enumerate([("happy", {"happiness": 8, "neutral": 2}),
                                         ("angry", {"anger": 3, "disgust": 6, "contempt": 1}),
                                         ("sad", {"contempt": 7, "sadness": 3})]):
        rel = f"test/{folder}/PrivateTest_{i}.jpg"
        _save(root / "fer2013" / rel, rng.integers(0, 255, (48, 48), dtype=np.uint8))
        counts = {c: votes.get(c, 0) for c in ("neutral", "happiness", "surprise", "sadness", "anger", "disgust",
                                               "fear", "contempt", "unknown", "NF")}
        majority = max(votes, key=votes.get)
        rows.append({"path": rel, "usage": "PrivateTest", **counts, "ferplus_majority": majority})
    (root / "ferplus").mkdir(parents=True)
    pd.DataFrame(rows).to_csv(root / "ferplus" / "ferplus_labels.csv", index=False)
    return root / "ferplus"


# ---------------------------------------------------------------- RAF-DB


def test_rafdb_labels_splits_and_layouts(tmp_path):
    root = _make_rafdb(tmp_path / "basic")
    faces = load_rafdb(root, "all", size=16)
    assert faces.images.shape == (3, 16, 16) and faces.images.dtype == np.uint8
    assert [EXPRESSIONS[i] for i in faces.labels] == ["surprise", "neutral", "happiness"]  # codes 1, 7, 4
    assert faces.subjects == ["", "", ""] and not faces.has_va
    assert faces.meta["dataset"] == "RAF-DB" and faces.meta["images"] == "aligned"
    train, test = load_rafdb(root, "train"), load_rafdb(root, "test", size=8, grey=False)
    assert train.names == ["train_00001.jpg", "train_00002.jpg"] and abs(int(train.images[1].mean()) - 120) <= 2
    assert test.images.shape == (1, 8, 8, 3) and test.labels.tolist() == [class_index("happiness")]
    original = load_rafdb(_make_rafdb(tmp_path / "orig", aligned=False), "test")
    assert original.meta["images"] == "original" and abs(int(original.images.mean()) - 200) <= 2


def test_rafdb_errors_name_the_path(tmp_path):
    root = _make_rafdb(tmp_path / "basic")
    (root / "Image/aligned/test_0001_aligned.jpg").unlink()
    with pytest.raises(DataError, match="test_0001_aligned.jpg"):
        load_rafdb(root, "test")
    assert len(load_rafdb(root, "train")) == 2  # the other split still loads
    with pytest.raises(DataError, match="nope"):
        load_rafdb(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="list_patition_label.txt"):
        load_rafdb(tmp_path / "empty")
    with pytest.raises(DataError, match="splits"):
        load_rafdb(root, "validation")
    (root / "EmoLabel/list_patition_label.txt").write_text("train_00001.jpg 8\n")
    with pytest.raises(DataError, match="line 1"):
        load_rafdb(root)


# ---------------------------------------------------------------- CK+


def test_ckplus_peaks_neutral_contempt_and_subjects(tmp_path):
    root = _make_ckplus(tmp_path / "ck")
    faces = load_ckplus(root, size=24)
    # S005/001: neutral onset + surprise peak; S010/002 (contempt): onset only; S011 unlabelled: nothing.
    assert faces.names == [
        "S005/001/S005_001_00000001.png", "S005/001/S005_001_00000004.png", "S010/002/S010_002_00000001.png",
    ]
    assert [EXPRESSIONS[i] for i in faces.labels] == ["neutral", "surprise", "neutral"]
    assert faces.subjects == ["S005", "S005", "S010"]
    assert faces.meta["dropped_contempt"] == 1 and faces.meta["sequences"] == 2 and faces.meta["uncropped"] == 2
    # The peak frame has landmarks on the bright square: the crop is the square, not the dark frame.
    assert faces.images[1].mean() > 200 and faces.images[0].mean() < 60

    peaks = load_ckplus(root, peak_frames=2, include_neutral=False, grey=False, size=8)
    assert peaks.images.shape == (2, 8, 8, 3)
    assert peaks.names[0].endswith("00000003.png") and (peaks.labels == class_index("surprise")).all()


def test_ckplus_errors(tmp_path):
    root = _make_ckplus(tmp_path / "ck")
    with pytest.raises(DataError, match="split must be 'all'"):
        load_ckplus(root, "train")
    (root / "Landmarks/S005/001/S005_001_00000004_landmarks.txt").write_text("1 2\n3 4\n")
    with pytest.raises(DataError, match="S005_001_00000004_landmarks.txt"):
        load_ckplus(root)
    (root / "Emotion/S005/001/S005_001_00000004_emotion.txt").write_text("nine\n")
    with pytest.raises(DataError, match="S005_001_00000004_emotion.txt"):
        load_ckplus(root)
    with pytest.raises(DataError, match="nope/cohn-kanade-images"):
        load_ckplus(tmp_path / "nope")
    with pytest.raises(ValueError, match="peak_frames"):
        load_ckplus(root, peak_frames=0)


# ---------------------------------------------------------------- generic folder and CSV


def test_folder_flat_and_split_layouts(tmp_path):
    flat = tmp_path / "flat"
    _save(flat / "Happy/a.jpg", 200)
    _save(flat / "surprised/b.png", 100)
    _save(flat / "disgusted/c.jpeg", 50)
    (flat / "surprised/notes.txt").write_text("ignored")
    faces = load_folder(flat, size=10)
    assert [EXPRESSIONS[i] for i in faces.labels] == ["happiness", "disgust", "surprise"]
    assert faces.names == ["Happy/a.jpg", "disgusted/c.jpeg", "surprised/b.png"]
    with pytest.raises(DataError, match="split must be 'all'"):
        load_folder(flat, "train")
    _save(flat / "contempt/d.jpg", 0)
    with pytest.raises(DataError, match="contempt"):
        load_folder(flat)

    split = tmp_path / "split"
    _save(split / "train/angry/a.jpg", 10)
    _save(split / "train/fearful/b.jpg", 20)
    _save(split / "test/neutral/c.jpg", 30)
    assert load_folder(split).labels.tolist() == [class_index("neutral"), class_index("anger"), class_index("fear")]
    test = load_folder(split, "test", grey=False, size=12)
    assert test.names == ["test/neutral/c.jpg"] and test.images.shape == (1, 12, 12, 3)
    with pytest.raises(DataError, match="'val'"):
        load_folder(split, "val")
    with pytest.raises(DataError, match="not found"):
        load_folder(tmp_path / "nope")


def test_csv_labels_va_subjects_splits(tmp_path):
    for name, value in [("a.png", 10), ("b.png", 20), ("sub/c.png", 30), ("d.png", 40)]:
        _save(tmp_path / name, value)
    csv = tmp_path / "faces.csv"
    csv.write_text(
        "path,label,valence,arousal,subject,split\n"
        "a.png,happy,0.5,-0.25,007,train\n"
        "b.png,3,,,008,train\n"
        "sub/c.png,,-1,1,,test\n"
        "d.png,Surprise,0,0,007,test\n"
    )
    faces = load_csv(csv, size=6)
    assert faces.labels.tolist() == [3, 3, -1, class_index("surprise")]
    assert faces.subjects == ["007", "008", "", "007"]  # kept as text: leading zeros survive
    assert np.allclose(faces.va[0], [0.5, -0.25]) and np.isnan(faces.va[1]).all() and faces.va.dtype == np.float32
    test = load_csv(csv, "test")
    assert test.names == ["sub/c.png", "d.png"] and abs(int(test.images[0].mean()) - 30) <= 1
    with pytest.raises(DataError, match="'dev'"):
        load_csv(csv, "dev")
    (tmp_path / "sub/c.png").unlink()
    with pytest.raises(DataError, match=r"sub/c\.png"):
        load_csv(csv)
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.png,contempt\n")
    with pytest.raises(DataError, match="contempt"):
        load_csv(bad)
    bad.write_text("path,valence\na.png,3.5\n")
    with pytest.raises(DataError, match=r"\[-1, 1\]"):
        load_csv(bad)
    bad.write_text("label\nhappy\n")
    with pytest.raises(DataError, match="'path'"):
        load_csv(bad)


def test_csv_on_diffusionfer_images(shared, tmp_path):
    sheet = pd.read_csv(shared / "data/diffusionfer/dataset_sheet.csv").iloc[::300]
    root = shared / "data/diffusionfer"
    pd.DataFrame({
        "path": [str(root / p) for p in sheet["subDirectory_filePath"]],  # absolute paths work too
        "valence": sheet["valence"], "arousal": sheet["arousal"],
    }).to_csv(tmp_path / "d.csv", index=False)
    faces = load_csv(tmp_path / "d.csv", size=32, grey=False)
    assert faces.images.shape == (len(sheet), 32, 32, 3) and faces.has_va and not faces.has_labels
    assert np.allclose(faces.va, sheet[["valence", "arousal"]].to_numpy())


# ---------------------------------------------------------------- AFEW-VA


def test_afew_va_shared_clip(shared):
    clip = read_afew_va_clip(shared / "data/afew-va/001")
    assert len(clip) == 42 and clip.actor and clip.landmarks.shape == (42, 68, 2) and clip.landmarks.dtype == np.float32
    assert np.allclose(clip.va, [0.0, 0.5])  # V = 0, A = 5 on the -10..10 scale
    assert (clip.landmarks[..., 0] < 720).all() and (clip.landmarks[..., 1] < 576).all()  # frame pixels
    faces, landmarks = load_afew_va(shared / "data/afew-va", size=32, grey=False, return_landmarks=True)
    assert faces.images.shape == (42, 32, 32, 3) and faces.labels.tolist() == [-1] * 42
    assert np.array_equal(landmarks, clip.landmarks) and faces.subjects == ["001"] * 42
    assert faces.names[0] == "001/00000.png" and faces.meta["actors"] == {"001": clip.actor}
    one_clip = load_afew_va(shared / "data/afew-va/001")  # a clip folder works as root too
    assert one_clip.images.shape == (42, 48, 48)


def test_afew_va_landmark_crop_scaling_and_errors(tmp_path):
    root = _make_afew_clip(tmp_path / "afew")
    faces = load_afew_va(root, size=16)
    assert faces.images.min() > 200  # cropped to the bright square the landmarks sit on
    assert np.allclose(faces.va[:, 0], [-1.0, -0.5, 0.0]) and np.allclose(faces.va[:, 1], 0.3)
    (root / "007/00001.png").unlink()
    with pytest.raises(DataError, match="00001.png"):
        load_afew_va(root)
    (root / "007/007.json").write_text("{not json")
    with pytest.raises(DataError, match="007.json"):
        load_afew_va(root)
    with pytest.raises(DataError, match="split must be 'all'"):
        load_afew_va(root, "train")


# ---------------------------------------------------------------- FER-2013 and AffectNet-style CSV


def test_fer2013_faceset_shared_validation(shared):
    faces = load_fer2013_faceset(shared / "data/fer2013", "validation", size=32, grey=False)
    assert faces.images.shape == (3589, 32, 32, 3) and faces.images.dtype == np.uint8
    assert np.bincount(faces.labels, minlength=7).min() > 0 and faces.meta["split"] == "validation"
    assert (faces.images[..., 0] == faces.images[..., 2]).all()  # grey repeated into RGB
    image, label, va, soft = FaceDataset(faces)[0]
    assert image.shape == (3, 32, 32) and int(label) == faces.labels[0] and bool(va.isnan().all())
    assert soft.shape == (7,) and bool(soft.isnan().all())  # FER-2013 alone has no vote distributions


def test_fer2013_dedup_csv_layout(tmp_path):
    csv = _make_fer_csv(tmp_path / "fer2013.csv")
    test = load_fer2013_faceset(csv, "test")
    assert test.labels.tolist() == [3, 4, 6, 1] and test.images.shape == (4, 48, 48)
    deduped = load_fer2013_faceset(csv, "test", dedup=True)
    # pix[0] occurs in train, pix[2] in validation: both dropped.
    assert deduped.labels.tolist() == [6, 1] and deduped.meta["dropped_duplicates"] == {"test": 2}
    val = load_fer2013_faceset(csv, "validation", dedup=True)
    assert val.labels.tolist() == [5]
    everything = load_fer2013_faceset(csv, "all", dedup=True)
    assert len(everything) == 2 + 1 + 2 and everything.meta["dropped_duplicates"] == {"validation": 1, "test": 2}
    assert len(load_fer2013_faceset(csv, "all")) == 8
    assert np.array_equal(load_fer2013(csv, "test").images, test.images)  # old API unchanged
    with pytest.raises(DataError, match="splits"):
        load_fer2013_faceset(csv, "dev")


def test_fer2013_dedup_folder_layout(tmp_path):
    root = _make_fer_folder(tmp_path / "fer", duplicate=np.full((48, 48), 77, np.uint8))
    test = load_fer2013_faceset(root, "test")
    deduped = load_fer2013_faceset(root, "test", dedup=True)
    assert len(test) == 8 and len(deduped) == 7 and "test/sad/dup.jpg" not in deduped.names
    assert deduped.meta["dropped_duplicates"] == {"test": 1}
    with pytest.raises(DataError, match="not found"):
        load_fer2013_faceset(tmp_path / "nope", "test")


def test_affectnet_faceset_diffusionfer(shared):
    csv = shared / "data/diffusionfer/dataset_sheet.csv"
    faces = load_affectnet_csv(csv, "test", size=24, grey=False)
    grey = load_affectnet_csv(csv, "test", size=24)
    assert faces.images.shape == (len(grey), 24, 24, 3) and faces.names == grey.names
    assert np.array_equal(faces.labels, grey.labels) and np.array_equal(faces.va, grey.va)
    assert faces.has_va and faces.meta["dataset"] == "affectnet_csv"
    with pytest.raises(DataError, match="splits"):
        load_affectnet_csv(csv, "validation")


# ---------------------------------------------------------------- registry


def test_registry_round_trip(tmp_path):
    rafdb = _make_rafdb(tmp_path / "raf")
    ck = _make_ckplus(tmp_path / "ck")
    afew = _make_afew_clip(tmp_path / "afew")
    fer = _make_fer_csv(tmp_path / "fer2013.csv")
    _save(tmp_path / "folder/happy/a.png", 5)
    (tmp_path / "faces.csv").write_text("path,label\nfolder/happy/a.png,sad\n")
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("subDirectory_filePath,valence,arousal,expression\nfolder/happy/a.png,0.1,0.2,1\n")
    plus = _make_ferplus(tmp_path / "data")
    from affectkit.data.ferplus import load_fer2013_votes, load_ferplus

    cases = {
        "fer2013": (fer, load_fer2013_faceset(fer, "test")),
        "ferplus": (plus, load_ferplus(plus, "test")),
        "fer2013_votes": (plus, load_fer2013_votes(plus, "test")),
        "affectnet_csv": (sheet, load_affectnet_csv(sheet)),
        "rafdb": (rafdb, load_rafdb(rafdb)),
        "ckplus": (ck, load_ckplus(ck)),
        "folder": (tmp_path / "folder", load_folder(tmp_path / "folder")),
        "csv": (tmp_path / "faces.csv", load_csv(tmp_path / "faces.csv")),
        "afew_va": (afew, load_afew_va(afew)),
    }
    assert set(cases) == {k for k, e in DATASETS.items() if e.modality == "face"}
    for kind, (path, direct) in cases.items():
        split = "test" if kind in ("fer2013", "ferplus", "fer2013_votes") else "all"
        faces = load_dataset(f"{kind}:{path}", split)
        assert np.array_equal(faces.images, direct.images), kind
        assert np.array_equal(faces.labels, direct.labels) and faces.names == direct.names, kind
    assert load_dataset(f"fer2013:{fer}", "test", dedup=True).labels.tolist() == [6, 1]
    assert load_dataset(f"rafdb:{rafdb}", "train", size=20, grey=False).images.shape == (2, 20, 20, 3)


def test_registry_errors(tmp_path):
    with pytest.raises(DataError, match="afew_va.*ckplus.*csv.*fer2013"):
        load_dataset(f"affectnet:{tmp_path}")
    with pytest.raises(DataError, match="<kind>:<path>"):
        load_dataset(str(tmp_path))
    with pytest.raises(DataError, match="ckplus splits"):
        load_dataset(f"ckplus:{tmp_path}", "train")
    with pytest.raises(DataError, match="fer2013 splits"):
        load_dataset(f"fer2013:{tmp_path}", "dev")
    with pytest.raises(DataError, match="dedup"):
        load_dataset(f"rafdb:{tmp_path}", dedup=True)
    with pytest.raises(DataError, match="nope"):
        load_dataset(f"rafdb:{tmp_path / 'nope'}")
    with pytest.raises(DataError, match="rafdb does not take the option 'rate'"):
        load_dataset(f"rafdb:{tmp_path}", rate=2.0)
    with pytest.raises(DataError, match="rafdb is face data; voice data are one of"):
        load_dataset(f"rafdb:{tmp_path}", modality="voice")
    with pytest.raises(DataError, match=r"emodb splits are \(.all.,\)"):
        load_dataset(f"emodb:{tmp_path}", "train")


def test_one_registry_returns_one_shape_per_modality(tmp_path):
    """Faces, voice (and sequences, in test_temporal_pipeline) come back as LabelledSet variants with one field vocabulary."""
    from affectkit.data.labelled import LabelledSet

    fer = _make_fer_csv(tmp_path / "fer2013.csv")
    wav = tmp_path / "emodb" / "wav"
    wav.mkdir(parents=True)
    for name in ("03a01Fa.wav", "08a01Wa.wav", "08a02Ta.wav"):
        (wav / name).write_bytes(b"")  # names carry the labels; the loader does not decode
    faces = load_dataset(f"fer2013:{fer}", "train+test")
    voice = load_dataset(f"emodb:{tmp_path / 'emodb'}")
    for data in (faces, voice):
        assert isinstance(data, LabelledSet)
        assert len(data.labels) == len(data.subjects) == len(data.names) == len(data)
        assert sum(data.class_counts().values()) == int((data.labels >= 0).sum())
    assert len(faces) == len(load_dataset(f"fer2013:{fer}", "train")) + len(load_dataset(f"fer2013:{fer}", "test"))
    assert voice.subjects == ["03", "08", "08"] and voice.class_names == ("anger", "happiness", "sadness")
    part = voice.subset(np.array([False, True, True]))
    assert part.names == voice.names[1:] and part.genders == ["f", "f"] and part.labels.tolist() == [0, 2]
    with pytest.raises(DataError, match="nothing to join"):
        load_dataset(f"emodb:{tmp_path / 'emodb'}", "all+all")


def test_ferplus_majority_labels_and_vote_distributions(shared):
    import numpy as np

    from affectkit.data.registry import load_dataset

    plus = load_dataset(f"ferplus:{shared}/data/ferplus", "test")
    assert len(plus) == 3589 and int((plus.labels >= 0).sum()) == 3136  # the seven shared classes
    voted = np.isfinite(plus.soft).all(1)
    assert np.allclose(plus.soft[voted].sum(1), 1) and voted.sum() > 3500
    # The majority is the top vote wherever it is one of the seven.
    lab = plus.labels >= 0
    assert (plus.soft[lab].argmax(1) == plus.labels[lab]).mean() > 0.99
    votes = load_dataset(f"fer2013_votes:{shared}/data/ferplus", "test")
    agree = (votes.labels[lab] == plus.labels[lab]).mean()
    assert 0.6 < agree < 0.7  # FER+ overturned a third of FER-2013's labels (shared/README.md)
    assert np.array_equal(votes.images, plus.images) and (votes.labels >= 0).all()


def test_ferplus_layout_labels_and_votes(tmp_path, cache):
    from affectkit.data.ferplus import load_fer2013_votes, load_ferplus
    from affectkit.expressions import EXPRESSIONS

    plus = load_ferplus(_make_ferplus(tmp_path / "data"), "test")
    by_name = dict(zip(plus.names, range(len(plus))))
    i_happy, i_angry, i_sad = (by_name[f"test/{f}/PrivateTest_{k}.jpg"] for k, f in enumerate(("happy", "angry", "sad")))
    assert plus.labels[i_happy] == EXPRESSIONS.index("happiness")
    assert plus.labels[i_angry] == EXPRESSIONS.index("disgust")  # FER+ overturned the folder's label
    assert plus.labels[i_sad] == -1  # contempt is not one of the seven: not scored
    assert plus.soft[i_angry].tolist() == pytest.approx([3 / 9, 6 / 9, 0, 0, 0, 0, 0])  # contempt vote dropped
    assert plus.soft[i_sad].tolist() == pytest.approx([0, 0, 0, 0, 1, 0, 0])
    votes = load_fer2013_votes(tmp_path / "data" / "ferplus", "test")
    assert votes.labels[i_angry] == EXPRESSIONS.index("anger") and np.array_equal(votes.soft, plus.soft)
