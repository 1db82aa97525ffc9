"""Fast checks of the long-video memory logic: the heap fix and the benchmark's verdict.

Nothing here times or measures memory; benchmarks/long_video.py does that.
"""

import importlib.util
from pathlib import Path

import pytest

import affectkit.memory as memory

ROOT = Path(__file__).resolve().parents[1]


class FakeLibc:
    def __init__(self, result: int = 1):
        self.calls = []
        self.result = result

    def mallopt(self, param, value):
        self.calls.append((param, value.value))
        return self.result


@pytest.fixture
def fresh(monkeypatch):
    """The module as if the process had not set the threshold yet, and no user tuning."""
    monkeypatch.setattr(memory, "_applied", False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)


def test_sets_the_mmap_threshold_once(fresh, monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    assert memory.bound_native_heap() is True
    assert libc.calls == [(memory.M_MMAP_THRESHOLD, memory.DEFAULT_MMAP_THRESHOLD)]
    assert memory.bound_native_heap() is False  # idempotent: process-wide, set once
    assert len(libc.calls) == 1


def test_no_op_without_glibc(fresh, monkeypatch):
    monkeypatch.setattr(memory, "_glibc", lambda: None)
    assert memory.bound_native_heap() is False


def test_users_own_tuning_wins(fresh, monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    assert memory.bound_native_heap() is False and libc.calls == []


def test_failed_mallopt_is_retried(fresh, monkeypatch):
    libc = FakeLibc(result=0)
    monkeypatch.setattr(memory, "_glibc", lambda: libc)
    assert memory.bound_native_heap() is False
    assert memory.bound_native_heap() is False and len(libc.calls) == 2


def test_rejects_a_bad_threshold(fresh):
    with pytest.raises(ValueError, match="positive"):
        memory.bound_native_heap(0)


def test_glibc_lookup_matches_the_platform():
    import os

    try:
        glibc = bool(os.confstr("CS_GNU_LIBC_VERSION"))
    except (ValueError, OSError, AttributeError):
        glibc = False
    assert (memory._glibc() is not None) == glibc


def test_analyzer_bounds_the_heap(monkeypatch, untrained_model):
    from affectkit import pipeline

    calls = []
    monkeypatch.setattr(pipeline, "bound_native_heap", lambda: calls.append(1))
    pipeline.Analyzer(model=untrained_model, detector="haar")
    assert calls == [1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("long_video", ROOT / "benchmarks" / "long_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(minutes, peak, slope):
    return {"minutes": minutes, "peak_rss_mib": peak, "rss_slope_second_half_mib_per_min": slope}


def test_verdict_passes_flat_runs(bench):
    v = bench.flatness([_run(1, 1000, 0.5), _run(3, 1020, 0.0), _run(10, 1040, -0.3)])
    assert v["passed"] and v["peak_growth_mib"] == 40 and v["slope_mib_per_min"] == -0.3
    assert (v["shortest_min"], v["longest_min"]) == (1, 10)


@pytest.mark.parametrize("peak, slope, peak_ok, slope_ok", [
    (1000 + 50, 2.0, True, True),     # on both limits
    (1000 + 50.5, 0.0, False, True),  # the peak rose with length
    (1000, 2.5, True, False),         # still growing late in the long run
    (1000, None, True, False),        # too few samples to tell
])
def test_verdict_thresholds(bench, peak, slope, peak_ok, slope_ok):
    v = bench.flatness([_run(1, 1000, 0.0), _run(10, peak, slope)], peak_max_mib=50, slope_max_mib_per_min=2)
    assert (v["peak_ok"], v["slope_ok"], v["passed"]) == (peak_ok, slope_ok, peak_ok and slope_ok)


def test_verdict_needs_two_lengths(bench):
    with pytest.raises(ValueError, match="two video lengths"):
        bench.flatness([_run(1, 1000, 0.0), _run(1, 1000, 0.0)])


def test_second_half_slope_is_per_minute_of_video(bench):
    # 1 MiB per second over a 60 s run of a 2-minute video: 30 s per video minute -> 30 MiB/min.
    samples = [(t, 500.0 + t) for t in range(0, 61)]
    assert bench.second_half_slope(samples, 60.0, 2.0) == pytest.approx(30.0)
    flat_late = [(t, 500.0 + min(t, 20)) for t in range(0, 61)]
    assert bench.second_half_slope(flat_late, 60.0, 2.0) == pytest.approx(0.0)
    assert bench.second_half_slope([(0, 1.0), (50, 2.0)], 60.0, 2.0) is None
