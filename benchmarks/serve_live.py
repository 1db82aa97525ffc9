"""Frame rate of ``affectkit serve``'s live page; writes docs/benchmarks.md between
``<!-- serve:begin -->`` and ``<!-- serve:end -->``.

    .venv/bin/python benchmarks/serve_live.py [--seconds 30] [--detector mtcnn] [--clip FILE]

The server runs in this process (uvicorn, localhost). Two measurements:

* **browser**: headless Chromium (the system one, through Playwright) opens ``/live``
  with its fake camera playing a Y4M copy of the clip; after ``--seconds`` the script
  reads the frames per second that the page itself reports (answers over its last 3 s)
  and its frame count. The page sends the next frame only after the answer, so this is
  the rate reached end to end (capture, JPEG, WebSocket, analysis, drawing).
* **socket**: a Python WebSocket client sends the clip's frames as JPEG, one after the
  previous answer, for ``--seconds``: the server's rate without the browser.

The clip is ``shared/media/WolfgangLanger_Pexels.mp4`` (first 10 s, scaled to 640 px
wide) when the shared folder is there, else a generated drawn face (320 x 240).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- serve:begin -->", "<!-- serve:end -->"


def clip_frames(clip: Path | None, seconds: float = 10.0, width: int = 640) -> tuple[list[np.ndarray], str]:
    """RGB frames of the clip (or of a generated face), and a description."""
    import cv2

    from affectkit.io.media import iter_frames

    if clip is None:
        shared = Path(os.environ.get("AFFECTKIT_SHARED", ROOT.parent / "shared"))
        candidate = shared / "media" / "WolfgangLanger_Pexels.mp4"
        clip = candidate if candidate.exists() else None
    if clip is None:
        sys.path.insert(0, str(ROOT / "tests"))
        from generated import draw_face

        return [draw_face(centre=(150 + i % 10, 120)) for i in range(50)], "generated drawn face, 320x240"
    frames = []
    for f in iter_frames(clip):
        if f.time_s > seconds:
            break
        h, w = f.image.shape[:2]
        k = width / w
        frames.append(cv2.resize(f.image, (width, int(round(h * k / 2)) * 2)))
    return frames, f"{clip.name}, first {seconds:g} s at {frames[0].shape[1]}x{frames[0].shape[0]}"


def write_y4m(frames: list[np.ndarray], path: Path, fps: int = 25) -> Path:
    import av

    with av.open(str(path), "w", format="yuv4mpegpipe") as out:
        stream = out.add_stream("rawvideo", rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for img in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def start_server(detector: str):
    import uvicorn

    from affectkit.serve import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, port


def browser_rate(port: int, y4m: Path, seconds: float, detector: str) -> dict:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        return {"error": "no chromium"}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=[
            "--no-sandbox", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={y4m}"])
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{port}/live")
        page.select_option("#detector", detector)
        page.click("#start")
        page.wait_for_function("Number(document.querySelector('#count').dataset.frames) >= 1", timeout=120_000)
        t0 = time.monotonic()
        n0 = int(page.get_attribute("#count", "data-frames"))
        time.sleep(seconds)
        n1 = int(page.get_attribute("#count", "data-frames"))
        fps_page = float(page.get_attribute("#fps", "data-fps"))
        elapsed = time.monotonic() - t0
        browser.close()
    return {"fps_page": fps_page, "fps_mean": (n1 - n0) / elapsed, "frames": n1 - n0, "seconds": elapsed}


async def socket_rate(port: int, frames: list[np.ndarray], seconds: float, detector: str) -> dict:
    import cv2
    import websockets

    jpegs = [cv2.imencode(".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
             for f in frames]
    async with websockets.connect(f"ws://127.0.0.1:{port}/api/live?detector={detector}", max_size=None) as ws:
        await ws.send(jpegs[0])
        json.loads(await ws.recv())  # the first answer loads the models
        n, faces, server_ms = 0, 0, []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            await ws.send(jpegs[n % len(jpegs)])
            answer = json.loads(await ws.recv())
            faces += len(answer.get("faces", []))
            server_ms.append(answer.get("ms", float("nan")))
            n += 1
        elapsed = time.monotonic() - t0
    return {"fps": n / elapsed, "frames": n, "faces_per_frame": faces / max(n, 1),
            "server_ms_median": float(np.median(server_ms)) if server_ms else float("nan")}


def write_doc(text: str) -> None:
    doc = DOC.read_text() if DOC.exists() else ""
    block = f"{BEGIN}\n{text.rstrip()}\n{END}"
    if BEGIN in doc and END in doc:
        doc = re.sub(re.escape(BEGIN) + r".*?" + re.escape(END), lambda m: block, doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n## Live page of `affectkit serve`\n\n" + block + "\n"
    DOC.write_text(doc)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0, help="Measured seconds per measurement.")
    ap.add_argument("--detector", default="mtcnn", choices=["mtcnn", "haar"])
    ap.add_argument("--clip", type=Path, default=None)
    ap.add_argument("--no-doc", action="store_true", help="Print only; do not update docs/benchmarks.md.")
    args = ap.parse_args()
    frames, described = clip_frames(args.clip)
    server, port = start_server(args.detector)
    with tempfile.TemporaryDirectory() as tmp:
        y4m = write_y4m(frames, Path(tmp) / "clip.y4m")
        sock = asyncio.run(socket_rate(port, frames, args.seconds, args.detector))
        browser = browser_rate(port, y4m, args.seconds, args.detector)
    server.should_exit = True
    cpu = platform.processor() or platform.machine()
    load = os.getloadavg()[0]
    lines = [
        f"`benchmarks/serve_live.py --seconds {args.seconds:g} --detector {args.detector}`, "
        f"{dt.date.today().isoformat()}, {os.cpu_count()} CPU cores ({cpu}), load average {load:.1f} at the end; "
        f"clip: {described}.",
        "",
        "| client | frames/s | frames | note |",
        "|---|---|---|---|",
        f"| Python WebSocket client (next frame after each answer) | {sock['fps']:.1f} | {sock['frames']} | "
        f"{sock['faces_per_frame']:.2f} faces per frame, server {sock['server_ms_median']:.0f} ms per frame (median) |",
    ]
    if "error" in browser:
        lines.append(f"| headless Chromium, fake camera | - | - | {browser['error']} |")
    else:
        lines.append(f"| headless Chromium, fake camera (`/live`) | {browser['fps_mean']:.1f} | {browser['frames']} | "
                     f"the page showed {browser['fps_page']:.1f} frames/s at the end |")
    lines += ["", "The page sends the next frame only after the answer to the previous one, so the rate is "
                  "what the server sustains; frames the camera makes in between are dropped."]
    text = "\n".join(lines)
    print(text)
    if not args.no_doc:
        write_doc(text)
        print(f"wrote {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
