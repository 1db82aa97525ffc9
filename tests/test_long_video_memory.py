"""Fast checks of the long-video memory logic: the detector's padded batches and the benchmark's verdict.

Nothing here times or measures memory; benchmarks/long_video.py does that.
"""

import pytest


def test_padded_size_has_four_steps_per_doubling():
    from affectkit.faces.detect import padded_size

    assert [padded_size(n) for n in (0, 1, 7, 8, 9, 27, 33, 185, 261, 311, 512, 513)] == \
        [0, 1, 7, 8, 10, 28, 40, 192, 320, 320, 512, 640]
    sizes = {padded_size(n) for n in range(1, 4097)}
    assert len(sizes) == 44  # 1 to 8, then 4 per doubling up to 4096: a bounded set of batch shapes
    assert all(n <= padded_size(n) <= 1.25 * n for n in range(1, 4097))


def test_padding_does_not_change_the_rows():
    import torch
    from facenet_pytorch.models.mtcnn import ONet, RNet

    from affectkit.faces.detect import _PaddedForward

    torch.manual_seed(0)
    for net, size in ((RNet(pretrained=False).eval(), 24), (ONet(pretrained=False).eval(), 48)):
        x = torch.randn(37, 3, size, size)
        with torch.inference_mode():
            plain = net(x)
            padded = _PaddedForward(net.forward)(x)  # runs 40 rows
        assert len(padded) == len(plain)
        for a, b in zip(padded, plain):
            assert a.shape == b.shape
            torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("long_video")


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


@pytest.mark.parametrize("control", [False, True])
def test_benchmark_child_reports_its_work_peak(bench, media, tmp_path, control):
    """The benchmark's child runs the real command line and writes its peak when the work is done."""
    out = tmp_path / "t.csv"
    r = bench.run_analyze(media / "single_face.mp4", out, every=25, extra=[], sample_s=0.2, control=control)
    assert out.stat().st_size > 0
    assert 50 < r["peak_rss_mib"] <= r["lifetime_peak_rss_mib"]
    assert r["command"].startswith("affectkit analyze") and ("batch padding off" in r["command"]) == control
