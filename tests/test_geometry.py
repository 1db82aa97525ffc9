"""Landmark-geometry features (Jin et al. 2019) on the real AFEW-VA clip's 68 landmarks."""

from __future__ import annotations

import numpy as np
import pytest

from affectkit.faces.geometry import landmark_geometry


@pytest.fixture(scope="module")
def clip_landmarks(shared):
    from affectkit.data.afew_va import read_afew_va_clip

    return read_afew_va_clip(shared / "data" / "afew-va" / "001").landmarks


def test_shapes_and_origin(clip_landmarks):
    n = len(clip_landmarks)
    full = landmark_geometry(clip_landmarks)
    mouth = landmark_geometry(clip_landmarks, "mouth")
    assert full.shape == (n, 136) and mouth.shape == (n, 40) and full.dtype == np.float32
    assert np.all(full[:, :2] == 0) and np.all(mouth[:, :2] == 0)
    # Point 2 of the jaw, relative to point 1, as read from the file.
    np.testing.assert_allclose(full[:, 2:4], clip_landmarks[:, 1] - clip_landmarks[:, 0], rtol=1e-5)
    # The mouth vector is the lips' part of the full one, re-centred on point 49.
    np.testing.assert_allclose(mouth, (full[:, 96:] - np.tile(full[:, 96:98], 20)), atol=1e-3)
    assert landmark_geometry(clip_landmarks[0]).shape == (136,)


def test_translation_invariant_but_not_shape_invariant(clip_landmarks):
    base = landmark_geometry(clip_landmarks)
    np.testing.assert_allclose(landmark_geometry(clip_landmarks + [37.0, -12.5]), base, atol=1e-3)
    wider = clip_landmarks.copy()
    wider[:, 48:68, 0] *= 1.2  # a wider mouth changes the features
    assert not np.allclose(landmark_geometry(wider, "mouth"), landmark_geometry(clip_landmarks, "mouth"))


def test_bad_input():
    with pytest.raises(ValueError, match="shape"):
        landmark_geometry(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="subset"):
        landmark_geometry(np.zeros((68, 2)), "eyes")
    bad = np.zeros((68, 2))
    bad[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        landmark_geometry(bad)
