"""Every source opens as a stream of record batches; bad input is named precisely."""

from __future__ import annotations

import gzip
import sqlite3
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from gapless import NotFoundError, ValidationError
from gapless.data.sources import detect_format, open_source


def read_all(source, **options) -> pa.Table:  # type: ignore[no-untyped-def]
    opened = open_source(source, **options)
    try:
        return opened.reader.read_all()
    except Exception as exc:  # noqa: BLE001 - mirror what the snapshot writer does
        raise opened.explain_error(exc) from exc


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiter_is_detected(tmp_path: Path, delimiter: str) -> None:
    path = tmp_path / "d.csv"
    path.write_text(delimiter.join(["id", "city", "price"]) + "\n"
                    + "\n".join(delimiter.join([str(i), f"c{i}", f"{i}.5"]) for i in range(20)))
    table = read_all(str(path))
    assert table.column_names == ["id", "city", "price"] and table.num_rows == 20
    assert table.column("price").type == pa.float64()


def test_csv_encodings_are_detected(tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("name,city\nJosé,Málaga\nZoë,Zürich\nFrançois,Besançon\n".encode("latin-1"))
    assert read_all(str(latin)).column("city").to_pylist() == ["Málaga", "Zürich", "Besançon"]
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbfa,b\n1,2\n")
    assert read_all(str(bom)).column_names == ["a", "b"]


def test_compressed_csv(tmp_path: Path) -> None:
    path = tmp_path / "d.csv.gz"
    with gzip.open(path, "wt") as handle:
        handle.write("a,b\n1,x\n2,y\n")
    assert read_all(str(path)).num_rows == 2


def test_malformed_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(50_000)]
    lines.insert(30_001, "oops,only-two")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValidationError, match=r"bad.csv, line 30002: expected 3 fields.* got 2"):
        read_all(str(path))


def test_mixed_type_column_names_column_and_line(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    rows = [f"{i},{i * 2}" for i in range(900_000)] + ["900000,n/a-ish"]  # past the 1st block
    path.write_text("id,age\n" + "\n".join(rows) + "\n")
    with pytest.raises(ValidationError, match=r"line 900002, column 'age'.*'n/a-ish'.*--type age"):
        read_all(str(path))
    fixed = read_all(str(path), column_types={"age": "string"})
    assert fixed.column("age").type == pa.string()


@pytest.mark.parametrize("content, message", [
    ("", "is empty"), ("   \n\n", "is empty"),
])
def test_empty_csv(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "empty.csv"
    path.write_text(content)
    with pytest.raises(ValidationError, match=message):
        read_all(str(path))


def test_unknown_encoding_and_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("a\n1\n")
    with pytest.raises(ValidationError, match="unknown encoding 'klingon'"):
        open_source(str(path), encoding="klingon")
    with pytest.raises(NotFoundError, match="nope.csv"):
        open_source(str(tmp_path / "nope.csv"))
    with pytest.raises(ValidationError, match="unknown type 'float128'"):
        open_source(str(path), column_types={"a": "float128"})


def test_parquet_file_folder_glob_and_hive_partitions(tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": range(6), "region": ["eu", "us"] * 3})
    pq.write_table(pa.Table.from_pandas(frame), tmp_path / "one.parquet")
    assert read_all(str(tmp_path / "one.parquet")).num_rows == 6
    for region in ("eu", "us"):
        folder = tmp_path / "hive" / f"region={region}"
        folder.mkdir(parents=True)
        part = frame[frame.region == region].drop(columns="region")
        pq.write_table(pa.Table.from_pandas(part, preserve_index=False), folder / "p.parquet")
    hive = read_all(str(tmp_path / "hive"))
    assert hive.num_rows == 6 and "region" in hive.column_names
    assert sorted(hive.column("region").to_pylist()) == ["eu"] * 3 + ["us"] * 3
    assert read_all(str(tmp_path / "hive" / "*" / "*.parquet")).num_rows == 6
    with pytest.raises(NotFoundError, match="no files match"):
        open_source(str(tmp_path / "none-*.parquet"))


def test_json_lines_and_a_broken_line(tmp_path: Path) -> None:
    good = tmp_path / "ok.jsonl"
    good.write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n')
    assert read_all(str(good)).column("a").to_pylist() == [1, 2]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(ValidationError, match="line 3"):
        read_all(str(bad))


def _sqlite_db(path: Path) -> str:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE sales (id INTEGER, note TEXT, amount REAL)")
    rows = [(i, None if i < 60_000 else f"n{i}", i * 1.5) for i in range(70_000)]
    con.executemany("INSERT INTO sales VALUES (?, ?, ?)", rows)
    con.commit()
    con.close()
    return f"sqlite:///{path}"


def test_sql_table_and_query_on_sqlite(tmp_path: Path) -> None:
    url = _sqlite_db(tmp_path / "src.db")
    table = read_all(url, table="sales")
    assert table.num_rows == 70_000
    assert table.column("note").type == pa.string()  # all-null first chunk, typed from later rows
    big = read_all(url, query="SELECT id, amount FROM sales WHERE amount > 100000")
    assert big.num_rows == sum(1 for i in range(70_000) if i * 1.5 > 100_000)
    with pytest.raises(ValidationError, match="query failed.*no such column"):
        open_source(url, query="SELECT nope FROM sales")
    with pytest.raises(NotFoundError, match="no table 'missing'"):
        open_source(url, table="missing")
    with pytest.raises(ValidationError, match="exactly one of a table or a query"):
        open_source(url)


def test_sql_column_types_convert_sqlite_text(tmp_path: Path) -> None:
    con = sqlite3.connect(tmp_path / "t.db")
    con.execute("CREATE TABLE t (at TIMESTAMP, n TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [("2026-11-01 10:00:00", "1"),
                                                    ("2026-11-02 11:30:00.5", "2")])
    con.commit()
    con.close()
    url = f"sqlite:///{tmp_path / 't.db'}"
    table = read_all(url, query="SELECT at, n FROM t",
                     column_types={"at": "datetime", "n": "integer"})
    assert table.column("at").to_pylist()[1] == pd.Timestamp("2026-11-02 11:30:00.5")
    assert table.column("n").to_pylist() == [1, 2]
    with pytest.raises(ValidationError, match=r"column_types names \['when'\]"):
        open_source(url, query="SELECT at FROM t", column_types={"when": "datetime"})


def test_sql_query_on_postgres(postgres_url: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE orders (id int, placed timestamptz, total numeric)"))
        conn.execute(sa.text("INSERT INTO orders SELECT g, now() - g * interval '1 day', g * 2.5 "
                             "FROM generate_series(1, 500) g"))
    engine.dispose()
    table = read_all(postgres_url, query="SELECT * FROM orders WHERE id <= 100")
    assert table.num_rows == 100 and pa.types.is_timestamp(table.column("placed").type)


def test_python_objects(tmp_path: Path) -> None:
    import polars as pl

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    assert read_all(frame).num_rows == 2
    assert read_all(pl.DataFrame({"a": [1, 2, 3]})).num_rows == 3
    assert read_all(pa.table({"a": [1]})).num_rows == 1
    with pytest.raises(ValidationError, match="mixes types"):
        read_all(pd.DataFrame({"a": [1, "two", 3.0]}))
    with pytest.raises(ValidationError, match="cannot read data from a builtins.dict"):
        open_source({"a": [1]})


def test_csv_and_parquet_on_s3(s3_bucket: str, s3_env: str, tmp_path: Path) -> None:
    import boto3

    client = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")
    client.put_object(Bucket=s3_bucket, Key="raw/a.csv", Body=b"k,v\n1,x\n2,y\n")
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"k": [1, 2, 3]}), buffer)
    client.put_object(Bucket=s3_bucket, Key="raw/b.parquet", Body=buffer.getvalue().to_pybytes())
    options = {"client_kwargs": {"endpoint_url": s3_env}}
    assert read_all(f"s3://{s3_bucket}/raw/a.csv", storage_options=options).num_rows == 2
    assert read_all(f"s3://{s3_bucket}/raw/b.parquet", storage_options=options).num_rows == 3


def test_format_detection() -> None:
    assert detect_format("a.csv") == "csv" and detect_format("a.tsv.gz") == "csv"
    assert detect_format("s3://b/x.parquet") == "parquet"
    assert detect_format("data/*.parquet") == "parquet"
    assert detect_format("postgresql://u@h/db", query="select 1") == "sql"
    assert detect_format(pd.DataFrame()) == "memory"
