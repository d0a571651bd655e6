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

from cases import CASES
from cases import ABSENT_CASES
from conftest import ROOT, rows

VIEWS = sorted((ROOT / "sql" / "views").glob("*.sql"))
ATHENA_DDL = sorted((ROOT / "sql" / "tables" / "athena").glob("*.sql"))
TRINO_DDL = sorted((ROOT / "sql" / "tables" / "trino").glob("*.sql"))

# Functions the views may call: all exist in Athena engine v3 (Trino). A
# function sqlglot does not know becomes exp.Anonymous; it must be listed here.
ATHENA_FUNCTIONS = {"COUNT_IF", "DATE_FORMAT", "JSON_EXTRACT_SCALAR", "SPLIT_PART", "TRANSFORM", "ROW_NUMBER", "RANK"}


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
        "athena_price",
        "athena_query_costs",
        "athena_cost_daily",
        "athena_workgroup_cost_daily",
        "athena_top_queries",
        "athena_unusual_queries",
        "people",
    } <= names
    assert len(ATHENA_DDL) == 5 and len(TRINO_DDL) == 5


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


@pytest.mark.parametrize("name", sorted(CASES))
def test_view_results_on_duckdb(db, name):
    query, expected = CASES[name]
    duck = sqlglot.transpile(query, read="athena", write="duckdb")[0]
    assert rows(db, duck) == expected


@pytest.mark.parametrize("name", sorted(ABSENT_CASES))
def test_views_before_identities_are_resolved(db_without_identities, name):
    """With the identities table empty, every view still works and `person` is the actor."""
    query, expected = ABSENT_CASES[name]
    duck = sqlglot.transpile(query, read="athena", write="duckdb")[0]
    assert rows(db_without_identities, duck) == expected
