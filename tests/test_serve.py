"""``affectkit serve``'s HTTP API (FastAPI TestClient), on media the tests draw themselves."""

from __future__ import annotations

import importlib.util
import io
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi", reason="affectkit serve needs the web extra")
pytest.importorskip("httpx", reason="the API tests need httpx")

from fastapi.testclient import TestClient  # noqa: E402

from affectkit.serve import create_app  # noqa: E402
from generated import draw_face, truncate, write_face_video  # noqa: E402


def png_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def jpeg_bytes(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=90)
    return buf.getvalue()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    video = write_face_video(d / "face.mp4", n_frames=8)
    return {"video": video, "broken": truncate(video, d / "broken.mp4", 0.5), "dir": d}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    work = tmp_path_factory.mktemp("serve")
    app = create_app(max_upload_mb=1, max_concurrent=1, queue=1, tmp_dir=work)
    with TestClient(app) as client:
        yield client, app.state.serve.root
    assert not app.state.serve.root.exists(), "the working folder outlives the app"
    assert list(work.iterdir()) == []


def requests_left(root: Path) -> list[Path]:
    return list((root / "requests").iterdir())


def test_health_and_openapi(served):
    client, _ = served
    health = client.get("/api/health").json()
    assert health["status"] == "ok" and health["capacity"] == 2 and health["max_upload_mb"] == 1
    spec = client.get("/openapi.json").json()
    assert {"/api/analyze", "/api/jobs", "/api/health"} <= set(spec["paths"])
    form = spec["paths"]["/api/analyze"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert {"file", "detector", "every", "smooth"} <= set(form["properties"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and "/api/jobs" in client.get("/static/app.js").text


def test_good_image_gives_the_table_as_json(served):
    client, root = served
    r = client.post("/api/analyze", files={"file": ("../../etc/face.png", png_bytes(draw_face()), "image/png")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"]["kind"] == "image" and body["summary"]["faces"] == 1
    (row,) = body["table"]
    assert row["source"] == "face.png"  # the client's name is display text, its folders dropped
    assert row["time_s"] is None and row["frame"] == 0
    assert abs(sum(row[e] for e in ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")) - 1) < 1e-4
    assert -1 <= row["valence"] <= 1 and -1 <= row["arousal"] <= 1
    # the drawn face is centred at (160, 120)
    assert row["x"] < 160 < row["x"] + row["width"] and row["y"] < 120 < row["y"] + row["height"]
    assert requests_left(root) == []
    assert not (root.parent / "etc").exists() and not Path("/etc/face.png").exists()


def test_good_video_as_csv_with_options(served, media):
    client, root = served
    data = media["video"].read_bytes()
    r = client.post("/api/analyze?format=csv", files={"file": ("clip.mp4", data)},
                    data={"every": "2", "smooth": "0.5", "detector": "mtcnn"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    df = pd.read_csv(io.StringIO(r.text))
    assert list(df["frame"]) == [0, 2, 4, 6]  # every=2 of 8 frames
    assert (df["source"] == "clip.mp4").all() and df["face"].notna().all()
    assert {"valence_smooth", "arousal_smooth"} <= set(df.columns)  # smooth=0.5 was applied
    assert (df["track_id"] == 0).all()
    same = client.post("/api/analyze", files={"file": ("clip.mp4", data)}, data={"every": "2", "smooth": "0.5"},
                       headers={"Accept": "text/csv"})
    assert same.headers["content-type"].startswith("text/csv")
    assert pd.read_csv(io.StringIO(same.text))["frame"].tolist() == [0, 2, 4, 6]
    assert requests_left(root) == []


def test_job_reports_progress_and_serves_downloads(served, media):
    client, root = served
    r = client.post("/api/jobs", files={"file": ("clip.mp4", media["video"].read_bytes())})
    assert r.status_code == 202, r.text
    job = r.json()
    states = []
    with client.stream("GET", job["events"]) as events:
        assert events.headers["content-type"].startswith("text/event-stream")
        for line in events.iter_lines():
            if line.startswith("data: "):
                states.append(json.loads(line[6:]))
    assert states[-1]["state"] == "done", states[-1]
    assert states[-1]["done"] == states[-1]["total"] == 8
    assert all(a["done"] <= b["done"] for a, b in zip(states, states[1:]))
    result = client.get(job["result"]).json()
    assert result["summary"]["frames"] == 8 and result["summary"]["tracks"] == 1
    assert len(result["preview"]) == 8 and result["preview"][0]["source"] == "clip.mp4"
    files = result["files"]
    assert {"csv", "parquet", "json", "timeline", "circumplex", "correlation", "video_va", "annotated"} <= set(files)
    table = pd.read_parquet(io.BytesIO(client.get(files["parquet"]).content))
    assert len(table) == 8 and table["face"].notna().all()
    assert len(client.get(files["json"]).json()) == 8
    keys = ["timeline", "circumplex", "correlation", "video_va"]
    if importlib.util.find_spec("torch") is not None:  # Grad-CAM runs on the torch model
        keys.append("gradcam")
    for key in keys:
        got = client.get(files[key])
        assert got.headers["content-type"] == "image/png" and got.content[:8] == b"\x89PNG\r\n\x1a\n"
    video = client.get(files["annotated"])
    assert video.headers["content-type"] == "video/mp4" and video.content[4:8] == b"ftyp"
    assert client.get(f"/api/jobs/{job['id']}/files/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert client.get(f"/api/jobs/{job['id']}/files/media.mp4").status_code == 404
    assert client.get("/api/jobs/nosuchjob").status_code == 404
    assert requests_left(root) == []


def test_type_is_checked_by_content_not_name(served):
    client, root = served
    r = client.post("/api/analyze", files={"file": ("photo.jpg", b"<html>not an image</html>" * 4, "image/jpeg")})
    assert r.status_code == 415
    detail = r.json()["detail"]
    assert detail.startswith("photo.jpg: not a supported image or video") and "\n" not in detail
    # a PNG called .mp4 is analysed as the image it is
    r = client.post("/api/analyze", files={"file": ("clip.mp4", png_bytes(draw_face()), "video/mp4")})
    assert r.status_code == 200 and r.json()["summary"]["kind"] == "image"
    assert requests_left(root) == []


def test_corrupt_media_gives_the_command_lines_message(served, media):
    from typer.testing import CliRunner

    from affectkit.cli import app as cli

    client, root = served
    r = client.post("/api/analyze", files={"file": ("broken.mp4", media["broken"].read_bytes())})
    assert r.status_code == 422
    detail = r.json()["detail"]
    assert detail.startswith("broken.mp4: ") and "\n" not in detail
    out = CliRunner().invoke(cli, ["analyze", str(media["broken"]), "-o", str(media["dir"] / "t.csv"), "-q"])
    problem = detail[len("broken.mp4: "):]
    assert f"error: {media['broken']}: {problem}" in out.output
    # a JPEG header over garbage: the right type, undecodable
    r = client.post("/api/analyze", files={"file": ("x.jpg", b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)})
    assert r.status_code == 422 and r.json()["detail"].startswith("x.jpg: ")
    assert requests_left(root) == []


def test_empty_upload_and_bad_requests(served):
    client, root = served
    r = client.post("/api/analyze", files={"file": ("empty.png", b"")})
    assert r.status_code == 422 and r.json()["detail"] == "empty.png: empty file (0 bytes)"
    assert client.post("/api/analyze", data={"every": "2"}).status_code == 400  # no file part
    r = client.post("/api/analyze", files={"file": ("f.png", png_bytes(draw_face()))}, data={"every": "0"})
    assert r.status_code == 422 and "every" in r.json()["detail"]
    r = client.post("/api/analyze", files={"file": ("f.png", png_bytes(draw_face()))}, data={"detector": "yolo"})
    assert r.status_code == 422 and "detector" in r.json()["detail"]
    assert requests_left(root) == []


def test_oversize_is_refused_before_it_is_stored(served):
    client, root = served
    big = b"\x89PNG\r\n\x1a\n" + bytes(1_200_000)
    r = client.post("/api/analyze", files={"file": ("big.png", big)})  # Content-Length says 1.2 MB > 1 MB
    assert r.status_code == 413 and "limit is 1 MB" in r.json()["detail"]
    # streamed without a Content-Length: counted as it arrives
    boundary = "xyzzy"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode()

    def body():
        yield head
        for _ in range(40):
            yield big[:50_000]
        yield f"\r\n--{boundary}--\r\n".encode()

    r = client.post("/api/analyze", content=body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 413 and "upload too large" in r.json()["detail"]
    assert requests_left(root) == []


def test_analyses_beyond_the_queue_get_503(tmp_path, media):
    app = create_app(max_concurrent=1, queue=1, tmp_dir=tmp_path)
    video = write_face_video(tmp_path / "long.mp4", n_frames=40)
    with TestClient(app) as client:
        first = client.post("/api/jobs", files={"file": ("a.mp4", video.read_bytes())})
        second = client.post("/api/jobs", files={"file": ("b.mp4", video.read_bytes())})
        assert first.status_code == second.status_code == 202  # one running, one waiting
        third = client.post("/api/analyze", files={"file": ("c.png", png_bytes(draw_face()))})
        assert third.status_code == 503 and third.headers["Retry-After"]
        assert third.json()["detail"].startswith("busy: 2 analyses are running or waiting")
        deadline = time.monotonic() + 60
        while client.get("/api/health").json()["running"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get(second.json()["result"]).json()["state"] == "done"
        assert client.post("/api/analyze", files={"file": ("c.png", png_bytes(draw_face()))}).status_code == 200
        root = app.state.serve.root
        assert requests_left(root) == []
    assert not root.exists()


def test_live_socket_answers_faces_and_survives_bad_frames(served):
    client, _ = served
    with client.websocket_connect("/api/live?detector=mtcnn") as ws:
        ws.send_bytes(jpeg_bytes(draw_face(centre=(120, 110))))
        answer = json.loads(ws.receive_text())
        assert answer["width"] == 320 and answer["height"] == 240 and len(answer["faces"]) == 1
        face = answer["faces"][0]
        x, y, w, h = face["box"]
        assert x < 120 < x + w and y < 110 < y + h
        assert abs(sum(face["scores"].values()) - 1) < 1e-4 and face["expression"] in face["scores"]
        ws.send_bytes(b"not a jpeg")
        assert "JPEG" in json.loads(ws.receive_text())["error"]
        ws.send_bytes(jpeg_bytes(np.full((240, 320, 3), 90, np.uint8)))
        empty = json.loads(ws.receive_text())
        assert empty["faces"] == [] and empty["frame"] == 1


def test_fields_after_the_file_part_are_read(served):
    """Browsers put the file first when the form lists it first; the options after it still count."""
    client, root = served
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.png\"\r\n"
            "Content-Type: image/png\r\n\r\n").encode() + png_bytes(draw_face()) + (
        f"\r\n--{boundary}\r\nContent-Disposition: form-data; name=\"every\"\r\n\r\n0\r\n--{boundary}--\r\n").encode()
    r = client.post("/api/analyze", content=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 422 and "every" in r.json()["detail"]  # the field after the file was parsed
    r = client.post("/api/analyze", content=body.replace(b"\r\n\r\n0\r\n", b"\r\n\r\n1\r\n"),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 200 and r.json()["table"][0]["source"] == "f.png"
    assert requests_left(root) == []


def test_image_job_has_grad_cam_per_face(served):
    pytest.importorskip("torch", reason="Grad-CAM runs on the torch model")
    client, root = served
    r = client.post("/api/jobs", files={"file": ("face.jpg", jpeg_bytes(draw_face()))})
    assert r.status_code == 202
    deadline = time.monotonic() + 60
    while (result := client.get(r.json()["result"]).json())["state"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert result["state"] == "done", result["error"]
    assert "video_va" not in result["files"] and result["files"]["annotated"].endswith(".jpg")
    heat = client.get(result["files"]["gradcam"])
    assert heat.headers["content-type"] == "image/png" and heat.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert requests_left(root) == []


def test_serve_without_the_web_extra_is_one_line(monkeypatch):
    import importlib.util

    from typer.testing import CliRunner

    from affectkit.cli import app as cli

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "uvicorn" else real(name, *a))
    r = CliRunner().invoke(cli, ["serve"])
    assert r.exit_code == 2
    assert r.output.strip().splitlines() == [
        "error: affectkit serve needs the web extra: pip install 'affectkit[web]' "
        "(fastapi, uvicorn, python-multipart, websockets); uvicorn is not installed"]
