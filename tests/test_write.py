"""The streaming table writer gives the same file as writing the table in one go."""

import pandas as pd
import pytest

from affectkit.errors import InputError
from affectkit.io.write import TableWriter, write_table
from affectkit.table import make_table, read_table, table_columns


def _table(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = {"source": "v.mp4", "frame": i, "time_s": i / 25, "imputed": i % 3 == 2}
        if i % 4:
            row.update(face=0, track_id=i % 2, x=1.5 * i, valence=-0.25, anger=0.5, expression="anger",
                       anger_smooth=0.25, expression_smooth="anger")
        rows.append(row)
    return make_table(rows, table_columns(smooth=True))


@pytest.mark.parametrize("suffix", ["csv", "parquet", "json"])
def test_chunked_write_equals_one_go_and_reads_back(tmp_path, suffix):
    df = _table(11)
    whole, chunked = tmp_path / f"whole.{suffix}", tmp_path / f"chunked.{suffix}"
    write_table(df, whole)
    with TableWriter(chunked, rows_per_group=4) as writer:
        for start in range(0, len(df), 3):
            writer.write(df.iloc[start : start + 3])
        writer.commit()
    assert writer.rows == 11
    if suffix != "parquet":  # Parquet files differ in their row groups, not their contents
        assert chunked.read_bytes() == whole.read_bytes()
    back = read_table(chunked)
    pd.testing.assert_frame_equal(back, df, check_dtype=True)
    assert str(back["track_id"].dtype) == "Int64" and back["imputed"].dtype == bool
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_uncommitted_write_leaves_the_old_file(tmp_path):
    out = tmp_path / "t.parquet"
    out.write_text("precious")
    with pytest.raises(RuntimeError):
        with TableWriter(out) as writer:
            writer.write(_table(3))
            raise RuntimeError("interrupted")
    with TableWriter(out) as writer:
        writer.write(_table(3))  # no commit: nothing analysed, say
    assert out.read_text() == "precious"
    assert list(tmp_path.iterdir()) == [out]


def test_read_table_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv"):
        read_table(tmp_path / "nope.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_text("not parquet")
    with pytest.raises(InputError, match="bad.parquet"):
        read_table(bad)


def test_jsonable_gives_plain_json_values(tmp_path):
    import json
    import math
    from pathlib import Path

    import numpy as np

    from affectkit.io.write import jsonable, write_json_atomic

    value = {1: np.float32(0.5), "n": np.int64(3), "ok": np.bool_(True), "bad": [math.nan, -math.inf, np.float64(2)],
             "arr": np.arange(3), "t": (1, "a"), "path": Path("x/y.csv"), "none": None}
    out = jsonable(value)
    assert out == {"1": 0.5, "n": 3, "ok": True, "bad": [None, None, 2.0], "arr": [0, 1, 2], "t": [1, "a"],
                   "path": str(Path("x/y.csv")), "none": None}
    assert type(out["n"]) is int and type(out["ok"]) is bool and type(out["1"]) is float
    json.dumps(out, allow_nan=False)  # standard JSON: no NaN left
    path = write_json_atomic(tmp_path / "r.json", value, indent=1)
    assert json.loads(path.read_text()) == out
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_one_jsonable_helper():
    """The JSON converter exists once (io.write.jsonable); no module keeps its own copy."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "affectkit"
    copies = [str(f.relative_to(src)) for f in src.rglob("*.py") if re.search(r"^\s*def _?jsonable\(", f.read_text(), re.M)]
    assert copies == [str(Path("io") / "write.py")]
