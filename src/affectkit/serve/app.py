"""The FastAPI application of ``affectkit serve``: the API, the upload page and the live page.

API (OpenAPI at ``/docs``; the pages use nothing else):

``GET /api/health``
    ``{"status": "ok", "version", "running", "capacity"}``.
``POST /api/analyze``
    Multipart ``file`` (an image or a video) and the options ``detector``, ``every``,
    ``smooth`` as form fields; answers the table as JSON (``{"summary", "table"}``),
    or as CSV with ``Accept: text/csv`` or ``?format=csv``.
``POST /api/jobs``
    The same upload, analysed in the background: 202 with the job's id.
``GET /api/jobs/{id}/events``
    Server-sent events: ``{"state", "done", "total", ...}`` until ``done`` or ``failed``.
``GET /api/jobs/{id}``
    The job's state, summary, table preview and files.
``GET /api/jobs/{id}/files/{name}``
    A download (``table.csv``, ``table.parquet``, ``table.json``) or a picture.
``WS /api/live``
    The live page: each binary message is one JPEG frame; each answer is a JSON object
    with the faces found (see :mod:`affectkit.serve.live`).

Refusals are one line in ``{"detail": ...}``: 413 (too large, before the body is
stored), 415 (not an image or video, from its bytes), 422 (empty or corrupt media,
the message the command line prints; or a bad option), 503 (the queue is full).

This module imports FastAPI: reach it through :func:`affectkit.serve.create_app`,
which names the ``web`` extra when it is missing.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from affectkit.errors import AffectkitError, InputError, one_line
from affectkit.serve.uploads import UploadRefused, receive_upload
from affectkit.serve.work import TABLE_FILES, AnalyzerPool, analyze_upload, frames_to_do, options_from_form, write_outputs

STATIC = Path(__file__).parent / "static"
PREVIEW_ROWS = 200

_MULTIPART_DOC = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "an image or a video"},
                "detector": {"type": "string", "enum": ["mtcnn", "haar"], "default": "mtcnn"},
                "every": {"type": "integer", "minimum": 1, "default": 1, "description": "every N-th video frame"},
                "smooth": {"type": "number", "minimum": 0, "default": 0,
                           "description": "time constant of the smoothing, seconds (0 = off)"},
            }}}},
    }
}


class Admission:
    """At most ``capacity`` analyses admitted at once (running or waiting).

    Parameters
    ----------
    capacity : int
        ``max_concurrent + queue``.
    """

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.active = 0
        self._lock = threading.Lock()

    def enter(self) -> bool:
        """Take a place; False when all are taken."""
        with self._lock:
            if self.active >= self.capacity:
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        """Give a place back."""
        with self._lock:
            self.active -= 1


@dataclass
class Job:
    """One background analysis (``POST /api/jobs``)."""

    id: str
    display: str
    kind: str
    folder: Path
    state: str = "queued"  # queued, running, drawing, done, failed
    done: int = 0
    total: int | None = None
    error: str | None = None
    status: int = 200
    summary: dict = field(default_factory=dict)
    preview: list = field(default_factory=list)
    columns: list = field(default_factory=list)
    files: dict = field(default_factory=dict)
    finished: float | None = None

    def public(self) -> dict:
        """The JSON the API gives for this job."""
        return {"id": self.id, "source": self.display, "kind": self.kind, "state": self.state, "done": self.done,
                "total": self.total, "error": self.error, "status": self.status, "summary": self.summary,
                "files": {k: f"/api/jobs/{self.id}/files/{v}" for k, v in self.files.items()}}


def create_app(max_upload_mb: float = 500, max_concurrent: int = 1, queue: int = 4, *,
               tmp_dir: str | Path | None = None, keep_jobs: int = 20, job_ttl_s: float = 3600, max_live: int = 2):
    """Build the ``affectkit serve`` application.

    Parameters
    ----------
    max_upload_mb : float
        Largest upload, megabytes (10**6 bytes); larger ones get 413 before they are stored.
    max_concurrent : int
        Analyses that run at once (threads), >= 1.
    queue : int
        Analyses that may wait for a thread, >= 0; one more gets 503.
    tmp_dir : str or Path, optional
        Where the per-request folders and the jobs' results go (a fresh folder inside
        it); default: the system's temporary folder. Removed when the app stops.
    keep_jobs : int
        Finished jobs whose results are kept; older ones are deleted.
    job_ttl_s : float
        Seconds a finished job's results are kept.
    max_live : int
        Live-page connections at once; one more is closed with code 1013.

    Returns
    -------
    fastapi.FastAPI
        ``app.state.serve`` holds the limits and ``root`` (the working folder).

    Raises
    ------
    ValueError
        For a limit out of range.
    """
    from contextlib import asynccontextmanager

    import affectkit
    from affectkit.serve.live import LiveSession

    if not max_upload_mb > 0 or max_concurrent < 1 or queue < 0 or max_live < 0:
        raise ValueError("max_upload_mb must be > 0, max_concurrent >= 1, queue >= 0, max_live >= 0")
    root = Path(tempfile.mkdtemp(prefix="affectkit-serve-", dir=tmp_dir))
    (root / "requests").mkdir()
    (root / "jobs").mkdir()
    max_bytes = int(max_upload_mb * 1e6)
    admission = Admission(max_concurrent + queue)
    pool = AnalyzerPool()
    executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="affectkit-analyze")
    live_executor = ThreadPoolExecutor(max(1, max_live), thread_name_prefix="affectkit-live")
    jobs: dict[str, Job] = {}
    live = {"active": 0}

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
            live_executor.shutdown(wait=False, cancel_futures=True)
            shutil.rmtree(root, ignore_errors=True)

    app = FastAPI(title="affectkit", version=affectkit.__version__, lifespan=lifespan,
                  description="Emotion recognition from faces in images and video: upload media, get the "
                              "per-frame table of expressions, valence and arousal.")

    class State:
        pass

    state = State()
    state.root, state.max_bytes, state.admission, state.jobs = root, max_bytes, admission, jobs
    state.max_concurrent, state.queue = max_concurrent, queue
    app.state.serve = state

    def refuse(status: int, message: str, headers: dict | None = None):
        return JSONResponse({"detail": one_line(message, 500)}, status_code=status, headers=headers)

    def busy():
        return refuse(503, f"busy: {admission.capacity} analyses are running or waiting "
                           f"({max_concurrent} at a time); try again shortly", {"Retry-After": "5"})

    def request_folder() -> Path:
        folder = root / "requests" / uuid.uuid4().hex
        folder.mkdir()
        return folder

    def prune_jobs() -> None:
        now = time.time()
        done = sorted((j for j in jobs.values() if j.finished), key=lambda j: j.finished)
        for i, job in enumerate(done):
            if len(done) - i > keep_jobs or now - job.finished > job_ttl_s:
                jobs.pop(job.id, None)
                shutil.rmtree(job.folder, ignore_errors=True)

    async def receive(request: Request, folder: Path):
        """The stored upload and its options, or a refusal response."""
        try:
            upload = await receive_upload(request, folder, max_bytes)
            options = options_from_form(upload.fields)
        except UploadRefused as exc:
            return None, None, refuse(exc.status, exc.message)
        except (AffectkitError, ValueError) as exc:
            return None, None, refuse(422, str(exc))
        return upload, options, None

    @app.get("/api/health", summary="Liveness and load")
    async def health():
        return {"status": "ok", "version": affectkit.__version__, "running": admission.active,
                "capacity": admission.capacity, "max_upload_mb": max_bytes / 1e6}

    @app.post("/api/analyze", summary="Analyse one image or video; the table as JSON or CSV",
              openapi_extra=_MULTIPART_DOC, responses={413: {}, 415: {}, 422: {}, 503: {}})
    async def analyze_now(request: Request, format: str | None = None):
        if format not in (None, "csv", "json"):
            return refuse(422, f"format must be csv or json, got {format[:20]!r}")
        if not admission.enter():
            return busy()
        folder = request_folder()
        try:
            upload, options, refused = await receive(request, folder)
            if refused is not None:
                return refused

            def run():
                analyzer = pool.get(options)
                df, notes = analyze_upload(analyzer, upload.path, upload.display)
                return df, notes

            try:
                df, notes = await asyncio.wrap_future(executor.submit(run))
            except InputError as exc:
                return refuse(422, str(exc))
            except AffectkitError as exc:
                return refuse(500, str(exc))
            if format == "csv" or (format is None and "text/csv" in request.headers.get("accept", "")):
                from affectkit.io.write import write_table

                out = write_table(df, folder / "table.csv")
                return Response(out.read_bytes(), media_type="text/csv",
                                headers={"Content-Disposition": 'attachment; filename="affectkit.csv"'})
            summary = {"source": upload.display, "kind": upload.kind, "rows": len(df),
                       "frames": int(df["frame"].nunique()), "faces": int(df["face"].notna().sum()), "notes": notes}
            return Response(f'{{"summary": {json.dumps(summary)}, "table": {df.to_json(orient="records")}}}',
                            media_type="application/json")
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            admission.leave()

    @app.post("/api/jobs", status_code=202, summary="Start a background analysis (progress at .../events)",
              openapi_extra=_MULTIPART_DOC, responses={413: {}, 415: {}, 422: {}, 503: {}})
    async def start_job(request: Request):
        if not admission.enter():
            return busy()
        folder = request_folder()
        submitted = False
        try:
            upload, options, refused = await receive(request, folder)
            if refused is not None:
                return refused
            prune_jobs()
            job = Job(uuid.uuid4().hex, upload.display, upload.kind, root / "jobs" / uuid.uuid4().hex)
            job.folder.mkdir()
            jobs[job.id] = job

            def run():
                try:
                    job.state = "running"
                    job.total = frames_to_do(upload.path, upload.kind, options.every)

                    def step(n):
                        job.done += n

                    df, notes = analyze_upload(pool.get(options), upload.path, upload.display, step)
                    job.state = "drawing"
                    job.files = write_outputs(df, upload.path, upload.kind, job.folder, options.detector)
                    job.columns = list(df.columns)
                    job.preview = json.loads(df.head(PREVIEW_ROWS).to_json(orient="records"))
                    job.summary = {"rows": len(df), "frames": int(df["frame"].nunique()),
                                   "faces": int(df["face"].notna().sum()),
                                   "tracks": int(df["track_id"].nunique()) if "track_id" in df else 0,
                                   "notes": notes}
                    job.state = "done"
                except InputError as exc:
                    job.state, job.status, job.error = "failed", 422, one_line(exc, 500)
                except Exception as exc:  # reported to the page; the server goes on
                    job.state, job.status, job.error = "failed", 500, one_line(f"{type(exc).__name__}: {exc}", 500)
                finally:
                    job.finished = time.time()
                    shutil.rmtree(folder, ignore_errors=True)
                    admission.leave()

            executor.submit(run)
            submitted = True
            return JSONResponse({"id": job.id, "events": f"/api/jobs/{job.id}/events", "result": f"/api/jobs/{job.id}"},
                                status_code=202)
        finally:
            if not submitted:
                shutil.rmtree(folder, ignore_errors=True)
                admission.leave()

    def get_job(job_id: str) -> Job | None:
        return jobs.get(job_id)

    @app.get("/api/jobs/{job_id}", summary="A job's state, summary, table preview and files")
    async def job_result(job_id: str):
        job = get_job(job_id)
        if job is None:
            return refuse(404, "no such job (finished jobs are kept for a while only)")
        return {**job.public(), "columns": job.columns, "preview": job.preview}

    @app.get("/api/jobs/{job_id}/events", summary="Server-sent progress events of a job")
    async def job_events(job_id: str):
        job = get_job(job_id)
        if job is None:
            return refuse(404, "no such job")

        async def events():
            last = None
            while True:
                now = json.dumps({k: v for k, v in job.public().items() if k not in ("summary", "files")})
                if now != last:
                    yield f"data: {now}\n\n"
                    last = now
                if job.state in ("done", "failed"):
                    return
                await asyncio.sleep(0.2)

        return StreamingResponse(events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.get("/api/jobs/{job_id}/files/{name}", summary="A download or picture of a finished job")
    async def job_file(job_id: str, name: str):
        job = get_job(job_id)
        names = set(job.files.values()) if job else set()
        if job is None or name not in names:  # only the names the job wrote; nothing else reaches the filesystem
            return refuse(404, "no such file")
        media = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet", "json": "application/json",
                 "png": "image/png", "jpg": "image/jpeg", "mp4": "video/mp4"}[name.rsplit(".", 1)[1]]
        download = name in TABLE_FILES.values()
        return FileResponse(job.folder / name, media_type=media,
                            filename=f"affectkit_{name}" if download else None,
                            content_disposition_type="attachment" if download else "inline")

    @app.websocket("/api/live")
    async def live_socket(ws: WebSocket, detector: str = "mtcnn"):
        await ws.accept()
        if live["active"] >= max_live:
            await ws.close(code=1013, reason="busy: too many live sessions")
            return
        live["active"] += 1
        try:
            session = LiveSession(detector)
            await session.serve(ws, live_executor)
        finally:
            live["active"] -= 1

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC / "index.html")

    @app.get("/live", include_in_schema=False)
    async def live_page():
        return FileResponse(STATIC / "live.html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
