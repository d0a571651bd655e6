"""Every .sql file parses as Athena (Trino) SQL, uses only functions Athena
has, and every view runs (on DuckDB, after transpiling) with the results
worked out by hand from Athena semantics over the example bucket's fixtures.

What this cannot prove about Athena itself: DuckDB executes the transpiled
SQL, not Athena's engine. The views avoid the known differences (integer
division, regexp_extract on no match, json_extract_scalar on objects,
split_part past the end), and the Trino check in .ci/run runs the same views
on a real Trino server; partition projection itself only Athena evaluates.
"""

import pathlib

import pytest
import sqlglot
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from conftest import ROOT, rows

VIEWS = sorted((ROOT / "sql" / "views").glob("*.sql"))
ATHENA_DDL = sorted((ROOT / "sql" / "tables" / "athena").glob("*.sql"))
TRINO_DDL = sorted((ROOT / "sql" / "tables" / "trino").glob("*.sql"))

# Functions the views may call: all exist in Athena engine v3 (Trino). A
# function sqlglot does not know becomes exp.Anonymous; it must be listed here.
ATHENA_FUNCTIONS = {"COUNT_IF", "DATE_FORMAT", "JSON_EXTRACT_SCALAR", "SPLIT_PART", "TRANSFORM", "ROW_NUMBER"}


def test_there_is_a_view_per_question():
    names = {p.stem for p in VIEWS}
    assert {
        "table_reads_daily",
        "table_audit",
        "table_last_access",
        "athena_usage_daily",
        "athena_workgroups_daily",
        "failed_calls_daily",
        "s3_object_reads_daily",
        "cloudtrail_compat",
    } <= names
    assert len(ATHENA_DDL) == 3 and len(TRINO_DDL) == 3


@pytest.mark.parametrize("path", VIEWS + ATHENA_DDL, ids=lambda p: p.name)
def test_parses_as_athena_sql(path: pathlib.Path):
    statements = sqlglot.parse(path.read_text(), read="athena", error_level=ErrorLevel.RAISE)
    assert statements and all(s is not None for s in statements)
    for statement in statements:
        unknown = {f.name.upper() for f in statement.find_all(exp.Anonymous)} - ATHENA_FUNCTIONS
        assert not unknown, f"{path.name}: functions Athena may not have: {unknown}"


@pytest.mark.parametrize("path", TRINO_DDL, ids=lambda p: p.name)
def test_trino_ddl_parses(path: pathlib.Path):
    assert sqlglot.parse(path.read_text(), read="trino", error_level=ErrorLevel.RAISE)


@pytest.mark.parametrize("path", VIEWS, ids=lambda p: p.name)
def test_views_say_what_they_answer_with_an_example(path: pathlib.Path):
    text = path.read_text()
    assert text.startswith("-- "), "header comment first"
    assert "-- Example" in text
    assert f"CREATE OR REPLACE VIEW {path.stem} AS" in text


def test_table_reads_daily(db):
    got = rows(
        db,
        """SELECT event_date, actor, database_name, table_name, access_level, via, calls, denied_calls,
                  CAST(first_seen AS varchar), CAST(last_seen AS varchar)
           FROM table_reads_daily ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST""",
    )
    jane, marco = "jane.doe@example.com", "marco.rossi@example.com"
    assert got == [
        ("2026-03-02", "bob", "finance", None, "database", "direct", 0, 1, "2026-03-02 09:04:30+00", "2026-03-02 09:04:30+00"),
        ("2026-03-02", "bob", "sales", None, "database", "direct", 1, 0, "2026-03-02 09:04:00+00", "2026-03-02 09:04:00+00"),
        ("2026-03-02", jane, None, None, "table", "athena", 1, 0, "2026-03-02 09:06:00+00", "2026-03-02 09:06:00+00"),
        ("2026-03-02", jane, "sales", None, "database", "athena", 1, 0, "2026-03-02 09:06:30+00", "2026-03-02 09:06:30+00"),
        ("2026-03-02", jane, "sales", "customers", "table", "athena", 1, 0, "2026-03-02 09:00:59+00", "2026-03-02 09:00:59+00"),
        # GetTable + BatchGetTable + GetPartitions + Lake Formation GetDataAccess
        ("2026-03-02", jane, "sales", "orders", "table", "athena", 4, 0, "2026-03-02 09:00:59+00", "2026-03-02 09:01:00+00"),
        ("2026-03-02", jane, "sales", "regions", "table", "athena", 1, 0, "2026-03-02 09:00:59+00", "2026-03-02 09:00:59+00"),
        ("2026-03-02", marco, "marketing", "campaigns", "table", "athena", 1, 0, "2026-03-02 23:58:31+00", "2026-03-02 23:58:31+00"),
        # A record without eventTime: partitioned by its delivery day, no time.
        ("2026-03-03", marco, "marketing", None, "database", "athena", 1, 0, None, None),
        ("2026-03-03", marco, "marketing", "campaigns", "table", "athena", 1, 0, "2026-03-03 00:01:03+00", "2026-03-03 00:01:03+00"),
    ]
    roles = rows(db, "SELECT DISTINCT actor, role_name FROM table_reads_daily ORDER BY 1")
    assert roles == [
        ("bob", None),
        ("jane.doe@example.com", "AWSReservedSSO_DataAnalyst_0123456789abcdef"),
        ("marco.rossi@example.com", "AWSReservedSSO_Marketing_fedcba9876543210"),
    ]


def test_table_audit(db):
    got = rows(
        db,
        """SELECT event_name, actor, via, athena_query_id, error_code
           FROM table_audit WHERE database_name = 'staging' OR (database_name = 'sales' AND table_name = 'orders')
           ORDER BY event_time, event_name""",
    )
    jane = "jane.doe@example.com"
    assert got == [
        ("BatchGetTable", jane, "athena", None, None),
        ("GetTable", jane, "athena", None, None),
        ("GetDataAccess", jane, "athena", "a1b2c3d4-1111-4222-8333-000000000001", None),
        ("GetPartitions", jane, "athena", None, None),
        ("CreateTable", "glue-job-nightly-42", "direct", None, None),
        ("UpdateTable", "glue-job-nightly-42", "direct", None, None),
        ("DeleteTable", "glue-job-nightly-42", "direct", None, None),
    ]


def test_table_last_access(db):
    got = rows(
        db,
        """SELECT database_name, table_name, CAST(last_read AS varchar), readers, reads,
                  days_since_last_read = date_diff('day', CAST(last_read AS date), current_date)
           FROM table_last_access ORDER BY 1, 2""",
    )
    assert got == [
        ("marketing", "campaigns", "2026-03-03 00:01:03+00", 1, 2, True),
        ("sales", "customers", "2026-03-02 09:00:59+00", 1, 1, True),
        ("sales", "orders", "2026-03-02 09:01:00+00", 1, 4, True),
        ("sales", "regions", "2026-03-02 09:00:59+00", 1, 1, True),
    ]
    # Written tables (staging.orders_tmp) are not "read".
    assert rows(db, "SELECT count(*) FROM table_last_access WHERE database_name = 'staging'") == [(0,)]


def test_athena_usage_daily(db):
    got = rows(
        db,
        "SELECT event_date, actor, workgroup, queries, rejected_queries, databases FROM athena_usage_daily ORDER BY 1, 2, 3",
    )
    assert got == [
        ("2017-05-04", "johndoe", "primary", 1, 0, 0),
        ("2026-03-02", "etl-bot", "primary", 1, 1, 1),
        ("2026-03-02", "jane.doe@example.com", "analysts", 1, 0, 1),
        ("2026-03-02", "marco.rossi@example.com", "airflow-marketing", 1, 0, 1),
        ("2026-03-03", "marco.rossi@example.com", "airflow-marketing", 1, 0, 1),
    ]


def test_athena_workgroups_daily(db):
    got = rows(
        db,
        """SELECT event_date, workgroup, workgroup_family, airflow_folder, queries, actors, rejected_queries
           FROM athena_workgroups_daily ORDER BY 1, 2""",
    )
    assert got == [
        ("2017-05-04", "primary", "primary", None, 1, 1, 0),
        ("2026-03-02", "airflow-marketing", "airflow", "marketing", 1, 1, 0),
        ("2026-03-02", "analysts", "analysts", None, 1, 1, 0),
        ("2026-03-02", "primary", "primary", None, 1, 1, 1),
        ("2026-03-03", "airflow-marketing", "airflow", "marketing", 1, 1, 0),
    ]


def test_failed_calls_daily(db):
    fixture_rows = rows(
        db,
        """SELECT event_date, actor, event_name, error_code, denied, calls
           FROM failed_calls_daily WHERE event_date = '2026-03-02' ORDER BY 2, 3""",
    )
    assert fixture_rows == [
        ("2026-03-02", "bob", "GetDatabase", "AccessDeniedException", True, 1),
        ("2026-03-02", "bob", "GetObject", "AccessDenied", True, 1),
        ("2026-03-02", "etl-bot", "StartQueryExecution", "InvalidRequestException", False, 1),
    ]
    # Every failed event of the bucket is counted exactly once.
    total = rows(db, "SELECT sum(calls) FROM failed_calls_daily")[0][0]
    distinct = rows(
        db,
        """SELECT count(DISTINCT coalesce(event_id, source_key || '#' || CAST(record_index AS varchar)) || event_name)
           FROM events WHERE error_code IS NOT NULL""",
    )[0][0]
    assert total == distinct and total >= 5


def test_s3_object_reads_daily(db):
    got = rows(
        db,
        "SELECT event_date, actor, bucket, key_prefix, objects_read, bytes_out FROM s3_object_reads_daily ORDER BY 2",
    )
    # jane's first read was delivered twice and counts once; bob's denied read is not a read.
    assert got == [
        ("2026-03-02", "jane.doe@example.com", "example-lake-210987654321", "sales", 2, 3145728.0),
        ("2026-03-02", "marco.rossi@example.com", "example-lake-210987654321", "marketing", 1, 512.0),
    ]


def test_cloudtrail_compat(db):
    got = rows(
        db,
        """SELECT eventtime, eventname, useridentity.type, useridentity.sessioncontext.sessionissuer.username,
                  useridentity.sessioncontext.attributes.mfaauthenticated, readonly, tlsdetails.tlsversion,
                  resources[1].arn, requestparameters
           FROM cloudtrail_compat WHERE eventid = 's3data-0003-4e1d-9f2a-000000000003'""",
    )
    assert got == [
        (
            "2026-03-02T09:02:00Z",
            "GetObject",
            "AssumedRole",
            "AWSReservedSSO_Marketing_fedcba9876543210",
            "false",
            "true",
            "TLSv1.3",
            "arn:aws:s3:::example-lake-210987654321/marketing/campaigns/part-00000.parquet",
            '{"bucketName":"example-lake-210987654321","Host":"example-lake-210987654321.s3.eu-west-1.amazonaws.com","key":"marketing/campaigns/part-00000.parquet"}',
        )
    ]
    assert rows(db, "SELECT count(*) FROM cloudtrail_compat") == rows(db, "SELECT count(*) FROM events")
