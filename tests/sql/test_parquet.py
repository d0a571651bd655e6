"""pyarrow and DuckDB both read every Parquet file trail-etl writes, and the
files use only logical types Athena maps: INT64 TIMESTAMP(MILLIS, UTC) for
times (no INT96, no nanoseconds), strings as UTF8, zstd compression, and only
encodings Athena's engine (Trino) reads: dictionary, PLAIN, RLE levels and
booleans, DELTA_LENGTH_BYTE_ARRAY for text and DELTA_BINARY_PACKED for
integers that are not dictionary-encoded, in data pages v2 (test_trino.py reads
every value back through Trino; `--parquet-compat` writes data pages v1 and
PLAIN instead, checked in trail-etl/tests/it/local.rs)."""

import pathlib

import pyarrow.parquet as pq

from conftest import TABLES


ENCODINGS = {"PLAIN", "RLE", "RLE_DICTIONARY", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BINARY_PACKED"}


def parquet_files(dest: pathlib.Path):
    files = sorted(p for t in TABLES for p in (dest / t).rglob("*.parquet"))
    assert files
    return files


def test_pyarrow_reads_every_file_with_athena_types(dest):
    for path in parquet_files(dest):
        meta = pq.ParquetFile(path).metadata
        schema = meta.schema
        for i in range(len(schema)):
            column = schema.column(i)
            assert column.physical_type != "INT96", f"{path}: {column.path} is INT96"
            logical = str(column.logical_type)
            if "Timestamp" in logical:
                assert column.physical_type == "INT64"
                assert "timeUnit=milliseconds" in logical and "isAdjustedToUTC=true" in logical, f"{path}: {column.path} {logical}"
            if column.physical_type == "BYTE_ARRAY":
                assert "String" in logical, f"{path}: {column.path} {logical}"
        for rg in range(meta.num_row_groups):
            for c in range(meta.num_columns):
                chunk = meta.row_group(rg).column(c)
                assert chunk.compression == "ZSTD"
                encodings = set(chunk.encodings)
                assert encodings <= ENCODINGS, f"{path}: {chunk.path_in_schema} {encodings}"
                if chunk.physical_type == "BYTE_ARRAY" and "RLE_DICTIONARY" not in encodings:
                    assert "DELTA_LENGTH_BYTE_ARRAY" in encodings, f"{path}: {chunk.path_in_schema} {encodings}"
                if chunk.physical_type == "INT64" and "RLE_DICTIONARY" not in encodings:
                    assert "DELTA_BINARY_PACKED" in encodings, f"{path}: {chunk.path_in_schema} {encodings}"
        table = pq.read_table(path)
        assert table.num_rows == meta.num_rows > 0
        time_column = "submitted_at" if "submitted_at" in table.schema.names else "event_time"
        assert str(table.schema.field(time_column).type) == "timestamp[ms, tz=UTC]"


def test_duckdb_reads_every_file(dest, db):
    for path in parquet_files(dest):
        (count,) = db.execute(f"SELECT count(*) FROM read_parquet('{path}')").fetchone()
        assert count == pq.ParquetFile(path).metadata.num_rows
