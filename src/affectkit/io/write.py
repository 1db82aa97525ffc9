"""Write result tables and files atomically (temporary file in the same folder, then
rename), so an interrupted run never leaves a half-written output or clobbers a
good one."""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from affectkit.errors import InputError

TABLE_SUFFIXES = (".csv", ".parquet", ".json")


def check_table_path(path: str | Path) -> Path:
    """Validate an output table path before any work is done.

    Raises
    ------
    InputError
        If the suffix is not ``.csv``, ``.parquet`` or ``.json``, or the folder is missing.
    """
    path = Path(path)
    if path.suffix.lower() not in TABLE_SUFFIXES:
        raise InputError(path, f"output must end in one of {', '.join(TABLE_SUFFIXES)}")
    if not path.parent.exists():
        raise InputError(path, f"output folder {path.parent} does not exist")
    return path


def _temp_beside(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    # mkstemp makes the file private (0600); give it the mode a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    return Path(tmp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = _temp_beside(path)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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

    def __init__(self, path: str | Path, rows_per_group: int = 8192):
        self.path = check_table_path(path)
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
        self._tmp = _temp_beside(self.path)
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
