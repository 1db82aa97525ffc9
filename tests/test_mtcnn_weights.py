"""MTCNN's weights come from the facenet-pytorch wheel, read without torch."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from affectkit.errors import WeightsError
from affectkit.faces.mtcnn_weights import INSTALL, mtcnn_weight_file, read_legacy_state_dict
from generated import write_image


@pytest.mark.parametrize("net", ["pnet", "rnet", "onet"])
def test_reader_equals_torch_load(net):
    torch = pytest.importorskip("torch")
    path = mtcnn_weight_file(net)
    ours = read_legacy_state_dict(path)
    ref = torch.load(path, weights_only=True)
    assert list(ours) == list(ref) and len(ours) >= 10
    for key, value in ref.items():
        assert ours[key].dtype == np.float32 and ours[key].flags.c_contiguous
        np.testing.assert_array_equal(ours[key], value.numpy(), err_msg=key)


def test_reader_refuses_what_is_not_a_state_dict(tmp_path):
    good = mtcnn_weight_file("pnet").read_bytes()
    (tmp_path / "cut.pt").write_bytes(good[: len(good) - 100])
    with pytest.raises(WeightsError, match="cut.pt: truncated"):
        read_legacy_state_dict(tmp_path / "cut.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 64)
    with pytest.raises(WeightsError, match="junk.pt: "):
        read_legacy_state_dict(tmp_path / "junk.pt")
    # A pickle that names anything else (here os.system) is refused, not run.
    with open(tmp_path / "evil.pt", "wb") as f:
        for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
            pickle.dump(obj, f)
        f.write(b"cos\nsystem\n(S'echo pwned > " + str(tmp_path / "ran").encode() + b"'\ntR.")
    with pytest.raises(WeightsError, match="refusing to load os.system"):
        read_legacy_state_dict(tmp_path / "evil.pt")
    assert not (tmp_path / "ran").exists()
    with pytest.raises(WeightsError, match="nosuch.pt: weights file not found"):
        read_legacy_state_dict(tmp_path / "nosuch.pt")


def test_weights_dir_is_looked_at_first(tmp_path, monkeypatch):
    (tmp_path / "onet.pt").write_bytes(mtcnn_weight_file("onet").read_bytes())
    monkeypatch.setenv("AFFECTKIT_WEIGHTS_DIR", str(tmp_path))
    assert mtcnn_weight_file("onet") == tmp_path / "onet.pt"


def test_analyze_without_the_weights_says_how_to_install_them(tmp_path):
    image = write_image(tmp_path / "photo.png", size=(160, 120))
    # facenet_pytorch hidden from the import system, as on a core install that skipped it.
    code = textwrap.dedent(f"""
        import sys, importlib.abc
        class Hide(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split('.')[0] == 'facenet_pytorch':
                    raise ModuleNotFoundError(name)
        sys.meta_path.insert(0, Hide())
        sys.argv = ['affectkit', 'analyze', {str(image)!r}, '-o', {str(tmp_path / 'out.csv')!r}]
        from affectkit.cli import main
        main()
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "AFFECTKIT_WEIGHTS_DIR": str(tmp_path)})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert INSTALL in lines[0] and "--detector haar" in lines[0], lines[0]
    assert not (tmp_path / "out.csv").exists()
