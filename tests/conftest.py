"""Shared fixtures: the ../shared data folder and a small untrained model for plumbing tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("AFFECTKIT_SHARED", str(Path(__file__).resolve().parents[1].parent / "shared"))


@pytest.fixture(scope="session")
def shared() -> Path:
    from affectkit.paths import shared_dir

    path = shared_dir()
    if not (path / "media").is_dir():
        pytest.skip(f"shared data folder {path} is absent (set AFFECTKIT_SHARED)")
    return path


@pytest.fixture(scope="session")
def media(shared: Path) -> Path:
    return shared / "media"


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory) -> Path:
    """An untrained (random-head, no ImageNet) model with a valid card, for plumbing tests."""
    import torch

    from affectkit.models.card import export_model
    from affectkit.models.network import EmotionNet

    torch.manual_seed(0)
    net = EmotionNet("mobilenet_v2", network_size=64, pretrained=False).eval()
    return export_model(net, tmp_path_factory.mktemp("model") / "untrained.safetensors", recipe={"note": "test"})


@pytest.fixture(scope="session")
def cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("cache")
    os.environ["AFFECTKIT_CACHE"] = str(path)
    return path


@pytest.fixture
def single_thread():
    """One torch thread: tiny models train far faster without intra-op threads on a busy CPU."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="session")
def load_benchmark():
    """Import ``benchmarks/NAME.py`` as a module: the benchmarks are scripts, not a package."""
    import importlib.util

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load
