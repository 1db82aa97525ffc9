"""``affectkit serve``'s pages in a real headless Chromium (Playwright driving the system browser).

The upload page uploads a drawn face video and shows its pictures and table; the live
page gets Chromium's fake camera (a Y4M clip of a drawn face) and must draw boxes,
scores and the frame rate it reaches. Screenshots go to ``$AFFECTKIT_SCREENSHOTS``
(default: pytest's temporary folder). Skipped without chromium or Playwright.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="affectkit serve needs the web extra")
uvicorn = pytest.importorskip("uvicorn", reason="affectkit serve needs the web extra")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need playwright (pip)")

from affectkit.serve import create_app  # noqa: E402
from generated import draw_face, write_face_video  # noqa: E402

CHROMIUM = os.environ.get("AFFECTKIT_CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium executable (scripts/setup.sh installs it as root on Debian)")


def write_y4m(path: Path, n_frames: int = 20, fps: int = 10) -> Path:
    """A Y4M (YUV 4:2:0) clip of a drawn face for ``--use-file-for-fake-video-capture``."""
    import av

    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        for i in range(n_frames):
            img = draw_face(centre=(150 + (i % 5), 120), scale=0.9)
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(max_upload_mb=20, tmp_dir=work), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("AFFECTKIT_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def launch(p, *args):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", *args])


def test_upload_page_shows_pictures_and_table(server, shots, tmp_path):
    video = write_face_video(tmp_path / "face video.mp4", n_frames=12)
    with sync_api.sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(server + "/")
        page.set_input_files("#file", str(video))
        page.fill("#every", "1")
        page.fill("#smooth", "0.3")
        page.click("#go")
        page.wait_for_selector("#result:not([hidden])", timeout=90_000)
        page.wait_for_function("[...document.querySelectorAll('#plots img')].every(i => i.complete && i.naturalWidth > 0)",
                               timeout=30_000)
        kinds = page.eval_on_selector_all("#plots figure", "fs => fs.map(f => f.dataset.plot)")
        expected = {"annotated", "timeline", "circumplex", "video_va", "correlation"}
        if importlib.util.find_spec("torch") is not None:  # Grad-CAM of the track, on the torch model
            expected.add("gradcam")
        assert expected <= set(kinds)
        widths = page.eval_on_selector_all("#plots img", "is => is.map(i => i.naturalWidth)")
        assert len(widths) == len(expected) - 1 and min(widths) > 300  # the annotated video is a <video>
        headers = page.eval_on_selector_all("#table th", "hs => hs.map(h => h.textContent)")
        assert {"frame", "valence", "arousal", "expression", "valence_smooth"} <= set(headers)
        assert page.locator("#table tbody tr").count() == 12
        assert page.locator("#title").text_content() == "face video.mp4"
        href = page.get_attribute("#dl-parquet", "href")
        assert href.endswith("table.parquet") and page.request.get(server + href).status == 200
        page.screenshot(path=str(shots / "serve_upload.png"), full_page=True)
        # a refused upload shows the server's one line
        bad = tmp_path / "notes.jpg"
        bad.write_text("not an image")
        page.set_input_files("#file", str(bad))
        page.click("#go")
        page.wait_for_selector("#status.error", timeout=20_000)
        assert page.locator("#status").text_content().startswith("415: notes.jpg: not a supported image or video")
        browser.close()


def test_live_page_with_the_fake_camera(server, shots, tmp_path):
    clip = write_y4m(tmp_path / "face.y4m")
    with sync_api.sync_playwright() as p:
        browser = launch(p, "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                         f"--use-file-for-fake-video-capture={clip}")
        context = browser.new_context(viewport={"width": 1000, "height": 900}, accept_downloads=True)
        page = context.new_page()
        page.goto(server + "/live")
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#count').dataset.frames) >= 8", timeout=90_000)
        page.wait_for_function("Number(document.querySelector('#faces').dataset.faces) >= 1", timeout=30_000)
        fps = float(page.get_attribute("#fps", "data-fps"))
        assert fps > 0
        # boxes are drawn on the overlay: some pixels of it are not transparent
        painted = page.evaluate("""() => { const c = document.querySelector('#overlay');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")
        assert painted > 100
        chart = page.evaluate("""() => { const c = document.querySelector('#chart');
            const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }""")
        assert chart > 100
        page.screenshot(path=str(shots / "serve_live.png"), full_page=True)
        with page.expect_download() as info:
            page.click("#save")
        saved = Path(info.value.path()).read_text().splitlines()
        assert saved[0].startswith("frame,time_s,face,track_id,x,y,width,height,anger")
        assert len(saved) >= 9
        page.click("#stop")
        (shots / "serve_live_fps.txt").write_text(f"{fps:.2f}\n")
        browser.close()
    print(f"live page: {fps:.2f} frames/s")
