"""The batch manifest: one JSON file per output folder recording, per source, what was
done, with which options and model, and how it went; and the fingerprints that decide
what a re-run redoes.

``DIR/manifest.json`` holds::

    {"manifest_version": 1,
     "options": {...}, "options_hash": "...",        # the latest run's AnalyzeOptions
     "model": {"card_hash": ..., "weights_hash": ..., ...}, "model_hash": "...",
     "sources": [entry, ...]}                        # sorted by path

and each entry::

    {"path": absolute path (the key), "source": the table's ``source`` text,
     "size": bytes, "mtime_ns": int, "hash": "blake2b-256:<hex>" (of the file's bytes),
     "options": {...}, "options_hash": ..., "model_hash": ..., "model_card_hash": ...,
     "status": "done" | "failed", "error": one line or null,
     "table": "tables/<name>.parquet" or null, "rows": int, "frames": int, "notes": [...],
     "seconds": float, "timings_s": {"decode": s, "detect": s, "align": s, "model": s},
     "node": str (Ray node id, or "local:<host>"), "worker_pid": int, "engine": "local" | "ray",
     "finished_at": ISO time}

The manifest is rewritten atomically (:func:`~affectkit.io.write.write_json_atomic`),
after a source's table has been renamed into place, so a source marked done always has
its whole table. :data:`VOLATILE` are the fields that say where and how fast a source
ran; two runs of the same batch agree on everything else (:func:`comparable`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from affectkit.errors import InputError, one_line, printable
from affectkit.io.write import jsonable, write_json_atomic

MANIFEST = "manifest.json"
"""The manifest's name inside the output folder."""

TABLES = "tables"
"""The folder, inside the output folder, of the per-source Parquet tables."""

MANIFEST_VERSION = 1

VOLATILE = ("seconds", "timings_s", "node", "worker_pid", "engine", "finished_at")
"""Entry fields that depend on where and when a source ran, not on its result."""

HASH = "blake2b-256"


def file_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b (32-byte digest) of a file's bytes, read in chunks (memory O(chunk)).

    Parameters
    ----------
    path : str or Path
    chunk : int
        Bytes read at a time.

    Returns
    -------
    str
        ``"blake2b-256:<64 hex digits>"``.

    Raises
    ------
    OSError
        If the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return f"{HASH}:{h.hexdigest()}"


def text_hash(obj: Any) -> str:
    """BLAKE2b (32 bytes) of ``obj`` as canonical JSON (sorted keys, through :func:`jsonable`)."""
    data = json.dumps(jsonable(obj), sort_keys=True, separators=(",", ":"), allow_nan=False).encode()
    return f"{HASH}:{hashlib.blake2b(data, digest_size=32).hexdigest()}"


def options_record(options) -> tuple[dict, str]:
    """An :class:`~affectkit.pipeline.AnalyzeOptions` as a JSON dict and its hash.

    Returns
    -------
    (dict, str)
        Every field by name (``model``/``audio`` paths as text), and :func:`text_hash` of it.
    """
    record = jsonable(dataclasses.asdict(options))
    return record, text_hash(record)


def model_record(options) -> tuple[dict, str]:
    """Fingerprint of the models ``options`` use: the face model's card and weights, and
    the voice model's when ``options.audio`` is set.

    Returns
    -------
    (dict, str)
        ``{"card_hash", "weights_hash"[, "voice_card_hash", "voice_weights_hash"]}`` (each
        :func:`file_hash` of the file) and :func:`text_hash` of that dict.

    Raises
    ------
    WeightsError
        One line naming the file, if a model or its card is missing or malformed
        (checked with :func:`~affectkit.models.card.read_card`), before any work.
    """
    from affectkit.models.card import card_path, read_card
    from affectkit.models.preprocess import BUNDLED, bundled_path

    def pair(weights: Path, kind: str, prefix: str) -> dict:
        read_card(weights, kind=kind)  # a malformed card is one line here, not in every task
        return {f"{prefix}card_hash": file_hash(card_path(weights)), f"{prefix}weights_hash": file_hash(weights)}

    model = str(options.model)
    record = pair(bundled_path(model) if model in BUNDLED else Path(model), "face", "")
    if options.audio is not None:
        from affectkit.audio.voice import bundled_voice_model

        voice = bundled_voice_model() if str(options.audio) == "default" else Path(options.audio)
        record |= pair(voice, "voice", "voice_")
    return record, text_hash(record)


def comparable(manifest: dict) -> dict:
    """``manifest`` without its :data:`VOLATILE` fields: what two runs of one batch share."""
    out = {k: v for k, v in manifest.items() if k != "sources"}
    out["sources"] = [{k: v for k, v in e.items() if k not in VOLATILE} for e in manifest.get("sources", [])]
    return out


def source_key(path: str | Path) -> str:
    """The manifest key of a source: its absolute path (symlinks resolved)."""
    return str(Path(path).resolve())


def table_name(path: str | Path) -> str:
    """A source's table file, relative to the output folder: ``tables/<stem>-<12 hex>.parquet``.

    The hex digits are a hash of :func:`source_key`, so two sources with the same name
    in different folders get different tables, and a source always gets the same one.
    """
    key = source_key(path)
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(path).stem)[:80] or "source"
    return f"{TABLES}/{stem}-{text_hash(key).split(':')[1][:12]}.parquet"


class Manifest:
    """The manifest of one batch output folder, read at start and rewritten as sources finish.

    Parameters
    ----------
    folder : str or Path
        The batch output folder.
    flush_every_s : float
        :meth:`save` rewrites the file at most this often, seconds (0: every call), so
        a batch of many small sources does not spend its time rewriting the manifest;
        :meth:`save` with ``force=True`` (at the end, and on an error) always writes.
        A crash loses at most this much bookkeeping: those sources are redone.

    Raises
    ------
    InputError
        If the manifest exists but is not a manifest this version reads.
    """

    def __init__(self, folder: str | Path, flush_every_s: float = 1.0):
        self.folder = Path(folder)
        self.path = self.folder / MANIFEST
        self.flush_every_s = flush_every_s
        self.header: dict = {}
        self.entries: dict[str, dict] = {}
        self._dirty = False
        self._last = 0.0
        if self.path.exists():
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError, UnicodeDecodeError) as exc:
                raise InputError(self.path, f"cannot read the batch manifest ({one_line(exc, 120)})") from None
            if not isinstance(data, dict) or data.get("manifest_version") != MANIFEST_VERSION \
                    or not isinstance(data.get("sources"), list):
                raise InputError(self.path, f"not an affectkit batch manifest (version {MANIFEST_VERSION})")
            self.header = {k: v for k, v in data.items() if k != "sources"}
            self.entries = {e["path"]: e for e in data["sources"] if isinstance(e, dict) and "path" in e}

    def set_run(self, options: dict, options_hash: str, model: dict, model_hash: str) -> None:
        """Record the options and model of the current run in the header."""
        self.header = {"manifest_version": MANIFEST_VERSION, "options": options, "options_hash": options_hash,
                       "model": model, "model_hash": model_hash}
        self._dirty = True

    def status(self, path: str | Path, options_hash: str, model_hash: str) -> str:
        """What a re-run does with a source.

        Returns
        -------
        str
            ``"done"`` (done with these options and model, the file unchanged in size and
            modification time, and its table present: skip), ``"failed"`` (failed under
            the same conditions: skipped unless failures are retried) or ``"new"`` (never
            seen, changed, or done with other options or another model: run).
        """
        e = self.entries.get(source_key(path))
        if e is None or e.get("options_hash") != options_hash or e.get("model_hash") != model_hash:
            return "new"
        try:
            st = os.stat(path)
        except OSError:
            return "new"  # the task reports the problem
        if (e.get("size"), e.get("mtime_ns")) != (st.st_size, st.st_mtime_ns):
            return "new"
        if e.get("status") == "done" and e.get("table") and (self.folder / e["table"]).is_file():
            return "done"
        return "failed" if e.get("status") == "failed" else "new"

    def record(self, entry: dict) -> None:
        """Add or replace a source's entry (keyed by ``entry["path"]``)."""
        self.entries[entry["path"]] = entry
        self._dirty = True

    def to_dict(self) -> dict:
        """The manifest as written: the header, then the entries sorted by path."""
        return {**self.header, "sources": [self.entries[k] for k in sorted(self.entries)]}

    def save(self, force: bool = False) -> bool:
        """Rewrite the manifest atomically if anything changed and the last write is
        ``flush_every_s`` old (or ``force``); returns whether it was written."""
        if not self._dirty or (not force and time.monotonic() - self._last < self.flush_every_s):
            return False
        write_json_atomic(self.path, self.to_dict())
        self._dirty, self._last = False, time.monotonic()
        return True

    def done_entries(self) -> list[dict]:
        """Entries done with the header's options and model, sorted by path."""
        oh, mh = self.header.get("options_hash"), self.header.get("model_hash")
        return [e for e in self.to_dict()["sources"]
                if e.get("status") == "done" and e.get("options_hash") == oh and e.get("model_hash") == mh]


def describe(entry: dict) -> str:
    """One line for a failed entry: its error, or its path."""
    return entry.get("error") or printable(entry["path"])
