"""Shared fixtures: the Parquet tables trail-etl writes from the example bucket."""

import os
import pathlib
import subprocess
import tempfile

import duckdb
import pytest
import sqlglot

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLES = ("events", "table_access", "athena_queries")


def trail_etl() -> str:
    binary = os.environ.get("TRAIL_ETL_BIN", str(ROOT / "target" / "debug" / "trail-etl"))
    if not pathlib.Path(binary).exists():
        subprocess.run(["cargo", "build", "-q", "-p", "trail-etl"], cwd=ROOT, check=True)
    return binary


@pytest.fixture(scope="session")
def dest() -> pathlib.Path:
    out = pathlib.Path(tempfile.mkdtemp(prefix="trail-sql-"))
    subprocess.run(
        [trail_etl(), "run", "--source", str(ROOT / "examples" / "bucket"), "--dest", str(out), "-q"],
        check=True,
    )
    return out


@pytest.fixture(scope="session")
def db(dest):
    """DuckDB with the three tables and every view of sql/views, transpiled from Athena SQL."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{dest}/{table}/*/*.parquet', "
            "hive_partitioning = true, hive_types = {'event_date': 'VARCHAR'})"
        )
    for path in sorted((ROOT / "sql" / "views").glob("*.sql")):
        for statement in sqlglot.transpile(path.read_text(), read="athena", write="duckdb"):
            con.execute(statement)
    return con


def rows(con, sql):
    return [tuple(r) for r in con.execute(sql).fetchall()]
