"""Write result tables and files atomically (temporary file in the same folder, then
rename), so an interrupted run never leaves a half-written output or clobbers a
good one. JSON files (model cards, reports, saved fusion models) go through
:func:`write_json_atomic`, and :func:`jsonable` is the one converter of results to
plain JSON values.

Temporary files are named ``.<stem>.affectkit-<pid>-<random><suffix>``: a run killed
outright (SIGKILL, power loss) cannot remove its own, so the next run that writes into
the same folder removes those whose process is gone (:func:`remove_stale_temps`).
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from affectkit.errors import InputError

TABLE_SUFFIXES = (".csv", ".parquet", ".json")
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
IMAGE_OUTPUT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
VIDEO_OUTPUT_SUFFIXES = (".mp4",)

# The name of a temporary file atomic_path writes before the rename: ".NAME.affectkit-PID-RANDOM[.SUFFIX]".
TEMP_NAME = re.compile(r"^\..+\.affectkit-(\d+)-[0-9a-f]{8}(\.[^.]*)?$")


def check_output_path(path: str | Path, suffixes: Iterable[str], what: str = "output") -> Path:
    """Validate an output path before any work is done.

    The suffix must be one of ``suffixes``, the folder must exist and be writable,
    and the path must not be a folder. Nothing is created or changed.

    Parameters
    ----------
    path : str or Path
    suffixes : iterable of str
        Allowed suffixes, lower case with the dot (e.g. ``(".csv", ".parquet")``).
    what : str
        What the file is, for the message (``"table"``, ``"plot"``, ...).

    Returns
    -------
    Path

    Raises
    ------
    InputError
        Naming ``path``, for a wrong suffix, a missing or read-only folder, or a path
        that is a folder.
    """
    path = Path(path)
    suffixes = tuple(suffixes)
    if path.suffix.lower() not in suffixes:
        raise InputError(path, f"a {what} must end in one of {', '.join(suffixes)}")
    if path.is_dir():
        raise InputError(path, f"is a folder; give a {what} file name")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(path, f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise InputError(path, f"output folder {folder} is not writable")
    if path.exists() and not os.access(path, os.W_OK):
        raise InputError(path, "exists and is not writable")
    # os.access does not see a read-only mount; creating a temporary file does.
    try:
        probe = _temp_beside(path)
    except OSError as exc:
        raise InputError(path, f"cannot write in {folder} ({exc.strerror or exc})") from None
    probe.unlink(missing_ok=True)
    return path


def check_table_path(path: str | Path) -> Path:
    """Validate an output table path (``.csv``, ``.parquet``, ``.json``) before any work.

    Raises
    ------
    InputError
        See :func:`check_output_path`.
    """
    return check_output_path(path, TABLE_SUFFIXES, "table")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def remove_stale_temps(folder: str | Path) -> list[Path]:
    """Remove this tool's temporary outputs in ``folder`` left by processes that are gone.

    Only names of the form ``.<stem>.affectkit-<pid>-<8 hex><suffix>`` whose ``pid``
    is not a running process are removed; anything else is left alone.

    Returns
    -------
    list of Path
        The files removed.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = TEMP_NAME.match(entry.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _temp_beside(path: Path) -> Path:
    path = Path(path)
    tail = f".affectkit-{os.getpid()}-{secrets.token_hex(4)}{path.suffix}"
    # Keep the name within the usual 255-byte limit whatever the output's own length.
    stem = path.stem.encode("utf-8", "surrogateescape")[: 250 - len(tail)].decode("utf-8", "ignore")
    name = f".{stem}{tail}"
    tmp = path.parent / name
    # O_EXCL: never reuse a name; mode 0o666 minus the umask, as a plain open() gives.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    os.close(fd)
    return tmp


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield Path(tmp)
        # Some writers (safetensors) recreate the file private (0600); give it a plain file's mode.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jsonable(obj: Any) -> Any:
    """A copy of ``obj`` made of plain JSON values, for reports, cards and saved models.

    Dicts keep their order with keys made ``str``; lists, tuples, sets and numpy arrays
    become lists; numpy booleans, integers and floats become Python ones; NaN and
    infinite floats become None (standard JSON has neither); anything else that JSON
    has no type for (a ``Path``, a class) becomes its ``str``.

    Parameters
    ----------
    obj : object

    Returns
    -------
    object
        ``json.dumps(jsonable(obj), allow_nan=False)`` always succeeds.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset, np.ndarray)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return str(obj)


def write_json_atomic(path: str | Path, obj: Any, *, indent: int = 2) -> Path:
    """Write ``obj`` (through :func:`jsonable`) as indented JSON, atomically.

    Parameters
    ----------
    path : str or Path
    obj : object
    indent : int
        Spaces per level.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n")
    return path


class StagedOutputs:
    """Several outputs written to temporary files and renamed into place together.

    Use :meth:`temp` to get the temporary path of each output, write them, then
    :meth:`commit`. Leaving the ``with`` block without committing (an error, an
    interrupt) removes every temporary file and leaves every existing output as it
    was. The renames in :meth:`commit` are each atomic; they run only after every
    output was written.

    Parameters
    ----------
    paths : iterable of str or Path
        The final outputs.
    """

    def __init__(self, paths: Iterable[str | Path]):
        self.paths = [Path(p) for p in paths]
        self._temps: dict[Path, Path] = {}

    def __enter__(self) -> "StagedOutputs":
        return self

    def temp(self, path: str | Path) -> Path:
        """The temporary file (created empty) that becomes ``path`` on commit."""
        path = Path(path)
        if path not in self._temps:
            self._temps[path] = _temp_beside(path)
        return self._temps[path]

    def commit(self) -> list[Path]:
        """Rename every written temporary file onto its output; returns the outputs."""
        done = []
        for path, tmp in list(self._temps.items()):
            os.replace(tmp, path)
            del self._temps[path]
            done.append(path)
        return done

    def __exit__(self, *exc) -> None:
        for tmp in self._temps.values():
            tmp.unlink(missing_ok=True)
        self._temps.clear()


class TableWriter:
    """Write a table chunk by chunk, atomically, so memory does not grow with its length.

    Rows go to a temporary file next to ``path`` (CSV appended, Parquet as row groups
    of ``rows_per_group`` rows, JSON as one array of records); :meth:`commit` renames it
    onto ``path``. Leaving the ``with`` block without :meth:`commit` (for example on
    an exception) removes the temporary file and leaves ``path`` untouched. All chunks
    must have the same columns and dtypes.

    Parameters
    ----------
    path : str or Path
        ``.csv``, ``.parquet`` or ``.json``.
    rows_per_group : int
        Parquet rows buffered per row group (the memory bound of a Parquet write).
    staged : StagedOutputs, optional
        Write into ``staged``'s temporary file for ``path``: :meth:`commit` then only
        finishes the file, and ``staged.commit()`` renames it with the other outputs.

    Raises
    ------
    InputError
        See :func:`check_table_path`.

    Examples
    --------
    >>> with TableWriter("out.parquet") as w:
    ...     for chunk in chunks:
    ...         w.write(chunk)
    ...     w.commit()
    """

    def __init__(self, path: str | Path, rows_per_group: int = 8192, staged: StagedOutputs | None = None):
        self.path = check_table_path(path)
        self.staged = staged
        self.suffix = self.path.suffix.lower()
        self.rows_per_group = rows_per_group
        self.rows = 0
        self._tmp: Path | None = None
        self._file = None  # CSV and JSON: the open text file
        self._parquet = None  # Parquet: the pyarrow writer, made from the first chunk
        self._schema = None
        self._buffer: list[pd.DataFrame] = []
        self._buffered = 0
        self._started = False  # CSV: the header goes with the first chunk

    def __enter__(self) -> "TableWriter":
        self._tmp = self.staged.temp(self.path) if self.staged else _temp_beside(self.path)
        if self.suffix != ".parquet":
            self._file = open(self._tmp, "w", encoding="utf-8", newline="")
        if self.suffix == ".json":
            self._file.write("[")
        return self

    def write(self, df: pd.DataFrame) -> None:
        """Append the rows of ``df`` (an empty first ``df`` still fixes the columns)."""
        first, self._started = not self._started, True
        self.rows += len(df)
        if self.suffix == ".csv":
            df.to_csv(self._file, index=False, header=first)
        elif self.suffix == ".json":
            # pandas writes "[\n {...},\n {...}\n]"; keep the records, join chunks with ",".
            body = df.to_json(orient="records", indent=1)[1:-1].rstrip("\n")
            if body:
                self._file.write(body if self.rows == len(df) else "," + body)
        else:
            if self._schema is None:
                import pyarrow as pa

                self._schema = pa.Schema.from_pandas(df.iloc[:0], preserve_index=False)
            if len(df):
                self._buffer.append(df)
                self._buffered += len(df)
            if self._buffered >= self.rows_per_group:
                self._flush_parquet()

    def _flush_parquet(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if self._parquet is None:
            self._parquet = pq.ParquetWriter(self._tmp, self._schema)
        if self._buffer:
            df = pd.concat(self._buffer, ignore_index=True) if len(self._buffer) > 1 else self._buffer[0]
            self._parquet.write_table(pa.Table.from_pandas(df, schema=self._schema, preserve_index=False))
        self._buffer, self._buffered = [], 0

    def commit(self) -> Path:
        """Finish the file and rename it onto ``path``; returns ``path``.

        With ``staged``, the file is finished and left for ``staged.commit()``;
        returns its temporary path, which readers (plots) may open meanwhile.

        Raises
        ------
        ValueError
            For Parquet, if nothing (not even an empty chunk) was written.
        """
        if self.suffix == ".parquet":
            if self._schema is None:
                raise ValueError(f"{self.path}: nothing was written, so the Parquet columns are unknown")
            self._flush_parquet()
        elif self.suffix == ".json":
            self._file.write("\n]")
        self._close()
        if self.staged:
            tmp, self._tmp = self._tmp, None
            return tmp
        os.replace(self._tmp, self.path)
        self._tmp = None
        return self.path

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def __exit__(self, *exc) -> None:
        self._close()
        if self._tmp is not None:  # not committed: drop the partial file
            self._tmp.unlink(missing_ok=True)
            self._tmp = None


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV, Parquet or JSON (records, one object per row), atomically.

    The same writer as the streaming path (:class:`TableWriter`), in one chunk.

    Raises
    ------
    InputError
        See :func:`check_table_path`.
    """
    with TableWriter(path) as writer:
        writer.write(df)
        return writer.commit()
