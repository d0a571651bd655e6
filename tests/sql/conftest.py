"""Shared fixtures: the Parquet tables trail-etl writes from the example bucket."""

import contextlib
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

import duckdb
import pytest
import sqlglot

ROOT = pathlib.Path(__file__).resolve().parents[2]
TABLES = ("events", "table_access", "athena_queries", "athena_query_stats")
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "trail-test-access",
    "AWS_SECRET_ACCESS_KEY": "trail-test-secret",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_CONFIG_FILE": "/dev/null",
    "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def fake_athena():
    """The local stand-in for Athena's API with the fixture history (tests/athena)."""
    with stand_in("athena/fake_athena.py", "--history", str(ROOT / "tests" / "athena" / "history.json")) as url:
        yield url


@contextlib.contextmanager
def fake_identitystore():
    """The local stand-in for the Identity Store API with the fixture users (tests/identitystore)."""
    with stand_in("identitystore/fake_identitystore.py", "--users", str(ROOT / "tests" / "identitystore" / "users.json")) as url:
        yield url


@contextlib.contextmanager
def stand_in(script, *args):
    """One of the tests' local API stand-ins, on a free port; its URL."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / script), "--port", str(port), *args],
    )
    try:
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


def enrich(dest: str, athena_url: str, extra=()):
    env = dict(os.environ, **AWS_TEST_ENV)
    env.pop("AWS_PROFILE", None)
    subprocess.run([trail_etl(), "enrich", "--dest", dest, "--athena-endpoint-url", athena_url, "-q", *extra], check=True, env=env)


def identities(dest: str, identitystore_url: str, extra=()):
    """`trail-etl identities` against the Identity Store stand-in."""
    env = dict(os.environ, **AWS_TEST_ENV, AWS_ENDPOINT_URL_IDENTITYSTORE=identitystore_url)
    env.pop("AWS_PROFILE", None)
    subprocess.run([trail_etl(), "identities", "--dest", dest, "-q", *extra], check=True, env=env)


# The identities table, for a destination where `trail-etl identities` has not run.
EMPTY_IDENTITIES = (
    "CREATE TABLE identities (user_id VARCHAR, identity_store_id VARCHAR, user_name VARCHAR, "
    "display_name VARCHAR, email VARCHAR, fetched_at TIMESTAMPTZ)"
)


def create_views(execute):
    """Create every view of sql/views, in an order that satisfies their dependencies."""
    pending = sorted((ROOT / "sql" / "views").glob("*.sql"))
    while pending:
        failed = []
        for path in pending:
            try:
                execute(path)
            except Exception as error:  # a view it needs is not there yet
                failed.append((path, error))
        if len(failed) == len(pending):
            raise failed[0][1]
        pending = [p for p, _ in failed]


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
    with fake_athena() as url:
        enrich(str(out), url)
    with fake_identitystore() as url:
        identities(str(out), url)
    return out


@pytest.fixture(scope="session")
def db(dest):
    """DuckDB with the tables (identities resolved) and every view of sql/views, transpiled from Athena SQL."""
    return duck(dest, with_identities=True)


@pytest.fixture(scope="session")
def db_without_identities(dest):
    """The same, before `trail-etl identities` has run: an empty identities table."""
    return duck(dest, with_identities=False)


def duck(dest, with_identities):
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for table in TABLES:
        con.execute(
            f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{dest}/{table}/*/*.parquet', "
            "hive_partitioning = true, hive_types = {'event_date': 'VARCHAR'})"
        )
    if with_identities:
        con.execute(f"CREATE VIEW identities AS SELECT * FROM read_parquet('{dest}/identities/*.parquet')")
    else:
        con.execute(EMPTY_IDENTITIES)

    def create(path):
        for statement in sqlglot.transpile(path.read_text(), read="athena", write="duckdb"):
            con.execute(statement)

    create_views(create)
    return con


def rows(con, sql):
    return [tuple(r) for r in con.execute(sql).fetchall()]
