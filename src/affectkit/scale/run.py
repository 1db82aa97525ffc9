"""``affectkit batch``: many sources, one Parquet table each, resumable; and the merge.

:func:`batch` analyses each source with :class:`affectkit.pipeline.Analyzer` (the same
rows as ``affectkit analyze``) into ``DIR/tables/<name>.parquet``, written atomically,
and only then marks it done in ``DIR/manifest.json`` (:mod:`affectkit.scale.manifest`).
A re-run skips what is done with the same options and model, so a batch killed at any
point is finished by running the same command again. :func:`merge` joins the tables.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import math
import os
import socket
import time
from contextlib import nullcontext
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from affectkit.errors import InputError, OptionError, one_line, printable
from affectkit.io.media import expand_inputs, media_kind, video_frame_count
from affectkit.io.write import TableWriter, check_output_path, check_table_path, remove_stale_temps
from affectkit.pipeline import AnalyzeOptions, Analyzer
from affectkit.scale.engine import make_engine, pin_threads
from affectkit.scale.manifest import (MANIFEST, TABLES, Manifest, describe, file_hash, model_record, options_record,
                                      source_key, table_name)

TEST_HOOK = "AFFECTKIT_BATCH_TEST_HOOK"
"""Environment variable read by the driver, for the failure tests only: JSON with
``delay_s`` (sleep before renaming each table into place) and ``crash_once``
(``{"name": file name, "marker": path}``: the first task on that file, while the marker
file does not exist, creates it and ends its process with ``os._exit(1)``)."""

_ANALYZERS: dict = {}  # per process: AnalyzeOptions -> Analyzer (the model loads once per worker)


def _analyzer(options: AnalyzeOptions) -> Analyzer:
    if options not in _ANALYZERS:
        _ANALYZERS.clear()
        _ANALYZERS[options] = Analyzer(options)
    return _ANALYZERS[options]


def _node(engine: str) -> str:
    if engine == "ray":
        import ray

        return ray.get_runtime_context().get_node_id()
    return f"local:{socket.gethostname()}"


def analyze_source(task: dict) -> dict:
    """Analyse one source into its table: the function each engine runs per source.

    Parameters
    ----------
    task : dict
        ``path`` (str, as given), ``key`` (:func:`~affectkit.scale.manifest.source_key`),
        ``table`` (absolute path of the ``.parquet`` to write), ``options``
        (:class:`~affectkit.pipeline.AnalyzeOptions`), ``threads`` (int), ``engine``
        (str), ``hook`` (dict, tests only), and the manifest fields ``options_record``,
        ``options_hash``, ``model_hash``, ``model_card_hash``, ``table_rel``.

    Returns
    -------
    dict
        The source's manifest entry (:mod:`affectkit.scale.manifest`): ``status``
        ``"done"`` with its table renamed into place, or ``"failed"`` with ``error``, the
        one line ``affectkit analyze`` gives for that file (no table is written then).
        Never raises for a bad file.
    """
    t0 = time.perf_counter()
    pin_threads(task["threads"])
    path = Path(task["path"])
    hook = task.get("hook") or {}
    crash = hook.get("crash_once")
    if crash and path.name == crash["name"] and not os.path.exists(crash["marker"]):
        Path(crash["marker"]).touch()
        os._exit(1)  # a worker dying mid-task (OOM kill, node loss)
    entry = {
        "path": task["key"], "source": printable(path), "size": None, "mtime_ns": None, "hash": None,
        "options": task["options_record"], "options_hash": task["options_hash"], "model_hash": task["model_hash"],
        "model_card_hash": task["model_card_hash"], "status": "failed", "error": None, "table": None, "rows": 0,
        "frames": 0, "notes": [],
    }
    try:
        st = path.stat()
        entry.update(size=st.st_size, mtime_ns=st.st_mtime_ns, hash=file_hash(path))
        analyzer = _analyzer(task["options"])
        notes, frames, timings = len(analyzer.notes), analyzer.frames_done, dict(analyzer.timings)
        try:
            with TableWriter(task["table"]) as writer:
                for chunk in analyzer.iter_tables([path], on_error="raise"):
                    writer.write(chunk)
                if hook.get("delay_s"):
                    time.sleep(float(hook["delay_s"]))
                if writer.rows:
                    writer.commit()
        finally:
            entry["notes"] = analyzer.notes[notes:]
            entry["frames"] = analyzer.frames_done - frames
            entry["timings_s"] = {k: round(v - timings.get(k, 0.0), 4) for k, v in analyzer.timings.items()}
        if writer.rows:
            entry.update(status="done", table=task["table_rel"], rows=writer.rows)
        else:
            entry["error"] = f"{printable(path)}: no rows"
    except InputError as exc:  # the message analyze gives
        entry["error"] = str(exc)
    except OSError as exc:
        entry["error"] = f"{printable(path)}: cannot read ({exc.strerror or one_line(exc)})"
    except Exception as exc:  # a model or library failure on this file: recorded, the batch goes on
        entry["error"] = f"{printable(path)}: {type(exc).__name__}: {one_line(exc, 160)}"
    entry.update(seconds=round(time.perf_counter() - t0, 3), node=_node(task["engine"]), worker_pid=os.getpid(),
                 engine=task["engine"], finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return entry


def check_batch_dir(out: str | Path) -> Path:
    """Validate (and create) a batch output folder before any work.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        If ``out`` is a file, its parent folder does not exist, it or its ``tables``
        folder cannot be written, or its manifest is unreadable.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(out, "is a file; --out takes a folder")
    if not out.exists():
        if not out.parent.is_dir():
            raise InputError(out, f"output folder's parent {out.parent} does not exist")
        try:
            out.mkdir()
        except OSError as exc:
            raise InputError(out, f"cannot create the output folder ({exc.strerror or exc})") from None
    try:
        (out / TABLES).mkdir(exist_ok=True)
        check_table_path(out / TABLES / "probe.parquet")  # writable, even on a read-only mount
        check_output_path(out / MANIFEST, (".json",), "manifest")
    except OSError as exc:
        raise InputError(out, f"cannot write in the output folder ({exc.strerror or exc})") from None
    return out


class _Lock:
    """An exclusive lock on the output folder, so two batches never write one manifest."""

    def __init__(self, folder: Path):
        self.path = folder / ".affectkit-batch.lock"

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise InputError(self.path.parent, "another affectkit batch is writing to this folder") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _test_hook() -> dict:
    text = os.environ.get(TEST_HOOK)
    return json.loads(text) if text else {}


def _frames(path: Path, every: int) -> int:
    try:
        kind = media_kind(path)
    except InputError:
        return 0
    n = video_frame_count(path) if kind == "video" else 1
    return math.ceil(n / every) if n else 0


def batch(
    inputs: str | Path | Sequence[str | Path],
    out: str | Path,
    options: AnalyzeOptions | None = None,
    *,
    engine: str = "auto",
    address: str | None = None,
    workers: int | None = None,
    threads: int = 1,
    retry_failed: bool = False,
    max_retries: int = 3,
    progress: bool = False,
    **changes,
) -> dict:
    """Analyse many sources into one Parquet table each, resumably, serially or on Ray.

    Each source (image or video) becomes ``out/tables/<stem>-<hash>.parquet`` with the
    rows :func:`affectkit.analyze` gives it, written atomically and only then marked
    done in ``out/manifest.json``. A re-run skips sources done with the same options and
    model (and unchanged in size and modification time), retries failed ones only with
    ``retry_failed``, and runs new ones; changing any option or the model redoes every
    source. A bad file is recorded as failed with its one-line error and the others go
    on. Videos are not split into time ranges (see :mod:`affectkit.scale.engine`).

    Parameters
    ----------
    inputs : path or sequence of paths
        Images, folders (searched recursively) and videos. On a cluster, every node
        must see them at the same paths (a shared file system).
    out : str or Path
        The output folder (created if its parent exists).
    options : AnalyzeOptions, optional
        The analysis options (see :class:`~affectkit.pipeline.AnalyzeOptions`);
        keyword arguments that are its fields replace them.
    engine : {"auto", "local", "ray"}
        ``local``: one source after another in this process; ``ray``: one Ray task per
        source (needs ``affectkit[scale]``); ``auto`` (default): Ray if installed.
    address : str, optional
        Ray cluster to join (``"auto"``, ``"ray://HOST:PORT"``); default: start Ray here.
    workers : int, optional
        Most sources analysed at once (Ray); default: every CPU // ``threads``.
    threads : int
        Threads per worker (torch, OpenCV, OpenMP, and ONNX Runtime through the
        options' ``threads`` where they have it) and CPUs reserved per task; >= 1.
    retry_failed : bool
        Run again the sources that failed before with the same options and model.
    max_retries : int
        Ray re-runs of a task whose worker process died; >= 0.
    progress : bool
        A progress bar (tqdm) over frames, with files done and the ETA.

    Returns
    -------
    dict
        ``out``, ``manifest`` (paths), ``sources`` (int), ``done``, ``skipped``,
        ``failed`` (ints: done now, skipped as done before, failed now or before),
        ``errors`` (one line per failed source), ``rows``, ``frames`` (of the sources
        run now), ``seconds`` (wall time), ``engine``.

    Raises
    ------
    InputError
        Before any work: a missing input, an output folder that cannot be made or
        written, an unreadable manifest, or another batch writing to ``out``.
    WeightsError
        Before any work, if the model (or voice model) or its card is unusable.
    OptionError
        Before any work, for an option out of range, an unknown engine, ``ray``
        without Ray installed, or a cluster that cannot be reached.
    """
    t0 = time.perf_counter()
    options = AnalyzeOptions.of(options, **changes)
    if not (isinstance(threads, int) and threads >= 1):
        raise OptionError("threads", f"threads must be an integer >= 1, got {threads!r}")
    if workers is not None and not (isinstance(workers, int) and workers >= 1):
        raise OptionError("workers", f"workers must be an integer >= 1, got {workers!r}")
    if not (isinstance(max_retries, int) and max_retries >= 0):
        raise OptionError("max_retries", f"max_retries must be an integer >= 0, got {max_retries!r}")
    if "threads" in {f.name for f in dataclasses.fields(options)}:  # ONNX Runtime's threads: the worker's
        options = dataclasses.replace(options, threads=threads)
    runner = make_engine(engine, address=address, workers=workers, threads=threads, max_retries=max_retries)
    files = expand_inputs([inputs] if isinstance(inputs, (str, Path)) else list(inputs))
    out = check_batch_dir(out)
    opt_rec, opt_hash = options_record(options)
    model_rec, model_hash = model_record(options)
    with _Lock(out):
        for folder in (out, out / TABLES):
            remove_stale_temps(folder)  # left by runs that were killed outright
        manifest = Manifest(out)
        manifest.set_run(opt_rec, opt_hash, model_rec, model_hash)
        state = {f: manifest.status(f, opt_hash, model_hash) for f in files}
        skipped = sum(s == "done" for s in state.values())
        kept_failed = [manifest.entries[source_key(f)] for f, s in state.items() if s == "failed" and not retry_failed]
        todo = [f for f, s in state.items() if s == "new" or (s == "failed" and retry_failed)]
        hook = _test_hook()
        tasks = [{"path": str(f), "key": source_key(f), "table": str(out / table_name(f)), "table_rel": table_name(f),
                  "options": options, "options_record": opt_rec, "options_hash": opt_hash, "model_hash": model_hash,
                  "model_card_hash": model_rec["card_hash"], "threads": threads, "engine": runner.name, "hook": hook}
                 for f in todo]
        from tqdm.auto import tqdm

        total = sum(_frames(f, options.every) for f in todo) if progress else 0
        bar = tqdm(total=total or None, unit="frame", disable=not progress, dynamic_ncols=True)
        done, failed, rows, frames = 0, list(kept_failed), 0, 0
        try:
            with bar, (runner if tasks else nullcontext()):  # nothing to run: Ray is not started
                bar.set_postfix_str(f"files 0/{len(todo)} ({skipped} done before)")
                for task, entry, error in runner.map(analyze_source, tasks) if tasks else ():
                    if entry is None:  # Ray gave up on the task (its worker kept dying)
                        entry = _lost(task, error, runner.name)
                    manifest.record(entry)
                    manifest.save()
                    if entry["status"] == "done":
                        done += 1
                        rows += entry["rows"]
                    else:
                        failed.append(entry)
                    frames += entry["frames"]
                    bar.update(entry["frames"])
                    bar.set_postfix_str(f"files {done + len(failed) - len(kept_failed)}/{len(todo)}"
                                        f" ({skipped} done before)" + (f", {len(failed)} failed" if failed else ""))
        finally:
            manifest.save(force=True)
    return {"out": out, "manifest": out / MANIFEST, "sources": len(files), "done": done, "skipped": skipped,
            "failed": len(failed), "errors": [describe(e) for e in failed], "rows": rows, "frames": frames,
            "seconds": time.perf_counter() - t0, "engine": runner.name}


def _lost(task: dict, error: str | None, engine: str) -> dict:
    """The entry of a task that Ray could not finish."""
    return {"path": task["key"], "source": printable(task["path"]), "size": None, "mtime_ns": None, "hash": None,
            "options": task["options_record"], "options_hash": task["options_hash"],
            "model_hash": task["model_hash"], "model_card_hash": task["model_card_hash"], "status": "failed",
            "error": f"{printable(task['path'])}: the worker was lost ({error})", "table": None, "rows": 0,
            "frames": 0, "notes": [], "seconds": None, "node": None, "worker_pid": None, "engine": engine,
            "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def merge(folder: str | Path, output: str | Path) -> dict:
    """Join a batch's tables into one table file, in manifest (path) order.

    Only sources done with the manifest's current options and model are joined; each
    table already has the ``source`` column naming its file. The output is written
    table by table (memory: one source's table) and atomically.

    Parameters
    ----------
    folder : str or Path
        A batch output folder.
    output : str or Path
        ``.parquet``, ``.csv`` or ``.json``.

    Returns
    -------
    dict
        ``path``, ``sources`` (joined), ``rows``, ``left_out`` (done sources with other
        options or model, not joined).

    Raises
    ------
    InputError
        If ``folder`` holds no manifest or no done source, a table is missing or
        unreadable, or ``output`` cannot be written.
    """
    import pyarrow.parquet as pq

    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise InputError(folder, "not an affectkit batch folder (no manifest.json)")
    output = check_table_path(output)
    manifest = Manifest(folder)
    entries = manifest.done_entries()
    if not entries:
        raise InputError(folder, "no source is done in this batch; nothing to merge")
    left_out = sum(e.get("status") == "done" for e in manifest.entries.values()) - len(entries)
    with TableWriter(output) as writer:
        for e in entries:
            try:
                writer.write(pq.read_table(folder / e["table"]).to_pandas())
            except (OSError, ValueError) as exc:
                raise InputError(folder / e["table"], f"cannot read this table ({one_line(exc, 120)}); "
                                                     "re-run the batch to redo it") from None
        writer.commit()
    return {"path": output, "sources": len(entries), "rows": writer.rows, "left_out": left_out}

