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


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    On an exception the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write ``df`` as CSV, Parquet or JSON (records, one object per row), atomically.

    Raises
    ------
    InputError
        See :func:`check_table_path`.
    """
    path = check_table_path(path)
    with atomic_path(path) as tmp:
        suffix = path.suffix.lower()
        if suffix == ".csv":
            df.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_json(tmp, orient="records", indent=1)
    return path
