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
