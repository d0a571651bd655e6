"""Queries over the views, in Athena SQL, with the rows Athena must return for
the Parquet that `trail-etl run` writes from examples/bucket. Worked out by
hand from the fixtures (examples/fixtures) and Athena semantics; run on DuckDB
(transpiled) by test_sql.py and on a real Trino server by test_trino.py."""

JANE = "jane.doe@example.com"
MARCO = "marco.rossi@example.com"
# Calls made through trusted identity propagation (examples/fixtures, 2026-03-04):
# an Identity Center user id that `trail-etl identities` resolves to ana.silva
# (tests/identitystore/users.json), a person behind the IAM federation path,
# and a workload, which is no person: its session name stays.
ANA_ID = "976710cc5d-9d976f61-3b89-4b98-88db-2ea3bbc1f3fa"
ANA = "ana.silva"
PRIYA = "priya.nair@example.com"
SCHEDULER = "reporting-scheduler"
TS = "%Y-%m-%d %H:%i:%s"

CASES = {
    "table_reads_daily": (
        f"""SELECT event_date, actor, database_name, table_name, access_level, via, calls, denied_calls,
                   date_format(first_seen, '{TS}'), date_format(last_seen, '{TS}')
            FROM table_reads_daily ORDER BY 1, 2, 3 NULLS FIRST, 4 NULLS FIRST""",
        [
            ("2026-03-02", "bob", "finance", None, "database", "direct", 0, 1, "2026-03-02 09:04:30", "2026-03-02 09:04:30"),
            ("2026-03-02", "bob", "sales", None, "database", "direct", 1, 0, "2026-03-02 09:04:00", "2026-03-02 09:04:00"),
            ("2026-03-02", JANE, None, None, "table", "athena", 1, 0, "2026-03-02 09:06:00", "2026-03-02 09:06:00"),
            ("2026-03-02", JANE, "sales", None, "database", "athena", 1, 0, "2026-03-02 09:06:30", "2026-03-02 09:06:30"),
            ("2026-03-02", JANE, "sales", "customers", "table", "athena", 1, 0, "2026-03-02 09:00:59", "2026-03-02 09:00:59"),
            # GetTable + BatchGetTable + GetPartitions + Lake Formation GetDataAccess
            ("2026-03-02", JANE, "sales", "orders", "table", "athena", 4, 0, "2026-03-02 09:00:59", "2026-03-02 09:01:00"),
            ("2026-03-02", JANE, "sales", "regions", "table", "athena", 1, 0, "2026-03-02 09:00:59", "2026-03-02 09:00:59"),
            ("2026-03-02", MARCO, "marketing", "campaigns", "table", "athena", 1, 0, "2026-03-02 23:58:31", "2026-03-02 23:58:31"),
            # A record without eventTime: partitioned by its delivery day, no time.
            ("2026-03-03", MARCO, "marketing", None, "database", "athena", 1, 0, None, None),
            ("2026-03-03", MARCO, "marketing", "campaigns", "table", "athena", 1, 0, "2026-03-03 00:01:03", "2026-03-03 00:01:03"),
            ("2026-03-04", ANA_ID, "finance", "invoices", "table", "athena", 1, 0, "2026-03-04 10:02:01", "2026-03-04 10:02:01"),
            ("2026-03-04", PRIYA, "marketing", "leads", "table", "athena", 1, 0, "2026-03-04 10:05:00", "2026-03-04 10:05:00"),
        ],
    ),
    "table_reads_daily_roles": (
        "SELECT DISTINCT actor, role_name FROM table_reads_daily ORDER BY 1",
        [
            (ANA_ID, "datazone_usr_role_5nw2ey0ae6orpt"),
            ("bob", None),
            (JANE, "AWSReservedSSO_DataAnalyst_0123456789abcdef"),
            (MARCO, "AWSReservedSSO_Marketing_fedcba9876543210"),
            (PRIYA, "DataAnalystRole"),
        ],
    ),
    "table_audit": (
        """SELECT event_name, actor, via, athena_query_id, error_code
           FROM table_audit WHERE database_name = 'staging' OR (database_name = 'sales' AND table_name = 'orders')
           ORDER BY event_time, event_name""",
        [
            ("BatchGetTable", JANE, "athena", None, None),
            ("GetTable", JANE, "athena", None, None),
            ("GetDataAccess", JANE, "athena", "a1b2c3d4-1111-4222-8333-000000000001", None),
            ("GetPartitions", JANE, "athena", None, None),
            ("CreateTable", "glue-job-nightly-42", "direct", None, None),
            ("UpdateTable", "glue-job-nightly-42", "direct", None, None),
            ("DeleteTable", "glue-job-nightly-42", "direct", None, None),
        ],
    ),
    "table_last_access": (
        f"""SELECT database_name, table_name, date_format(last_read, '{TS}'), readers, reads,
                   days_since_last_read = date_diff('day', CAST(last_read AS date), current_date)
            FROM table_last_access ORDER BY 1, 2""",
        [
            ("finance", "invoices", "2026-03-04 10:02:01", 1, 1, True),
            ("marketing", "campaigns", "2026-03-03 00:01:03", 1, 2, True),
            ("marketing", "leads", "2026-03-04 10:05:00", 1, 1, True),
            ("sales", "customers", "2026-03-02 09:00:59", 1, 1, True),
            ("sales", "orders", "2026-03-02 09:01:00", 1, 4, True),
            ("sales", "regions", "2026-03-02 09:00:59", 1, 1, True),
        ],
    ),
    "table_last_access_ignores_writes": (
        "SELECT count(*) FROM table_last_access WHERE database_name = 'staging'",
        [(0,)],
    ),
    "athena_usage_daily": (
        "SELECT event_date, actor, workgroup, queries, rejected_queries, databases FROM athena_usage_daily ORDER BY 1, 2, 3",
        [
            ("2017-05-04", "johndoe", "primary", 1, 0, 0),
            ("2026-03-02", "etl-bot", "primary", 1, 1, 1),
            ("2026-03-02", JANE, "analysts", 4, 0, 1),
            ("2026-03-02", MARCO, "airflow-marketing", 1, 0, 1),
            ("2026-03-03", MARCO, "airflow-marketing", 1, 0, 1),
            ("2026-03-04", ANA_ID, "analysts", 1, 0, 1),
            ("2026-03-04", SCHEDULER, "primary", 1, 0, 1),
        ],
    ),
    "athena_workgroups_daily": (
        """SELECT event_date, workgroup, workgroup_family, airflow_folder, queries, actors, rejected_queries
           FROM athena_workgroups_daily ORDER BY 1, 2""",
        [
            ("2017-05-04", "primary", "primary", None, 1, 1, 0),
            ("2026-03-02", "airflow-marketing", "airflow", "marketing", 1, 1, 0),
            ("2026-03-02", "analysts", "analysts", None, 4, 1, 0),
            ("2026-03-02", "primary", "primary", None, 1, 1, 1),
            ("2026-03-03", "airflow-marketing", "airflow", "marketing", 1, 1, 0),
            ("2026-03-04", "analysts", "analysts", None, 1, 1, 0),
            ("2026-03-04", "primary", "primary", None, 1, 1, 0),
        ],
    ),
    "failed_calls_daily": (
        """SELECT event_date, actor, event_name, error_code, denied, calls
           FROM failed_calls_daily WHERE event_date = '2026-03-02' ORDER BY 2, 3""",
        [
            ("2026-03-02", "bob", "GetDatabase", "AccessDeniedException", True, 1),
            ("2026-03-02", "bob", "GetObject", "AccessDenied", True, 1),
            ("2026-03-02", "etl-bot", "StartQueryExecution", "InvalidRequestException", False, 1),
        ],
    ),
    "failed_calls_daily_counts_each_event_once": (
        """SELECT (SELECT sum(calls) FROM failed_calls_daily)
                = (SELECT count(DISTINCT coalesce(event_id, source_key || '#' || CAST(record_index AS varchar)) || event_name)
                   FROM events WHERE error_code IS NOT NULL),
                  (SELECT sum(calls) FROM failed_calls_daily) >= 5""",
        [(True, True)],
    ),
    "s3_object_reads_daily": (
        # jane's first read was delivered twice and counts once; bob's denied read is not a read.
        "SELECT event_date, actor, bucket, key_prefix, objects_read, bytes_out FROM s3_object_reads_daily ORDER BY 2",
        [
            ("2026-03-02", JANE, "example-lake-210987654321", "sales", 2, 3145728.0),
            ("2026-03-02", MARCO, "example-lake-210987654321", "marketing", 1, 512.0),
        ],
    ),
    "cloudtrail_compat": (
        """SELECT eventtime, eventname, useridentity.type, useridentity.sessioncontext.sessionissuer.username,
                  useridentity.sessioncontext.attributes.mfaauthenticated, readonly, tlsdetails.tlsversion,
                  resources[1].arn, requestparameters
           FROM cloudtrail_compat WHERE eventid = 's3data-0003-4e1d-9f2a-000000000003'""",
        [
            (
                "2026-03-02T09:02:00Z",
                "GetObject",
                "AssumedRole",
                "AWSReservedSSO_Marketing_fedcba9876543210",
                "false",
                "true",
                "TLSv1.3",
                "arn:aws:s3:::example-lake-210987654321/marketing/campaigns/part-00000.parquet",
                '{"bucketName":"example-lake-210987654321","Host":"example-lake-210987654321.s3.eu-west-1.amazonaws.com",'
                '"key":"marketing/campaigns/part-00000.parquet"}',
            )
        ],
    ),
    "cloudtrail_compat_keeps_every_event": (
        "SELECT (SELECT count(*) FROM cloudtrail_compat) = (SELECT count(*) FROM events)",
        [(True,)],
    ),
    # Costs: bytes from tests/athena/history.json, billed per athena_price ($5 per 2^40 bytes,
    # rounded up to the MiB, 10 MiB minimum, nothing for FAILED or reused results).
    "athena_query_costs": (
        """SELECT query_execution_id, actor, state, data_scanned_bytes, billed_bytes, round(usd, 9)
           FROM athena_query_costs ORDER BY query_execution_id""",
        [
            ("a1b2c3d4-1111-4222-8333-000000000001", JANE, "SUCCEEDED", 5368709120, 5368709120, 0.024414063),
            ("a1b2c3d4-1111-4222-8333-000000000002", MARCO, "SUCCEEDED", 2097152, 10485760, 0.000047684),
            ("a1b2c3d4-1111-4222-8333-000000000003", MARCO, "SUCCEEDED", 0, 0, 0.0),
            ("a1b2c3d4-1111-4222-8333-000000000004", JANE, "SUCCEEDED", 52428800, 52428800, 0.000238419),
            ("a1b2c3d4-1111-4222-8333-000000000005", JANE, "SUCCEEDED", 1099511627776, 1099511627776, 5.0),
            ("a1b2c3d4-1111-4222-8333-000000000006", JANE, "FAILED", 0, 0, 0.0),
            # 200 MiB; 5 MiB billed as the 10 MiB minimum.
            ("a1b2c3d4-1111-4222-8333-000000000011", ANA_ID, "SUCCEEDED", 209715200, 209715200, 0.000953674),
            ("a1b2c3d4-1111-4222-8333-000000000012", SCHEDULER, "SUCCEEDED", 5242880, 10485760, 0.000047684),
            # Past Athena's retention: not enriched, so no cost rather than a wrong one.
            ("b621c254-74e0-48e3-9630-78ed857782f9", "johndoe", None, None, None, None),
        ],
    ),
    "athena_cost_daily": (
        """SELECT event_date, actor, workgroup, queries, failed_queries, not_enriched, data_scanned_bytes, billed_bytes, round(usd, 6)
           FROM athena_cost_daily ORDER BY 1, 2""",
        [
            ("2017-05-04", "johndoe", "primary", 1, 0, 1, None, None, None),
            ("2026-03-02", JANE, "analysts", 4, 1, 0, 1104932765696, 1104932765696, 5.024652),
            ("2026-03-02", MARCO, "airflow-marketing", 1, 0, 0, 2097152, 10485760, 0.000048),
            ("2026-03-03", MARCO, "airflow-marketing", 1, 0, 0, 0, 0, 0.0),
            ("2026-03-04", ANA_ID, "analysts", 1, 0, 0, 209715200, 209715200, 0.000954),
            ("2026-03-04", SCHEDULER, "primary", 1, 0, 0, 5242880, 10485760, 0.000048),
        ],
    ),
    "athena_workgroup_cost_daily": (
        """SELECT event_date, workgroup, workgroup_family, queries, actors, round(usd, 6)
           FROM athena_workgroup_cost_daily WHERE event_date >= '2026-03-01' ORDER BY 1, 2""",
        [
            ("2026-03-02", "airflow-marketing", "airflow", 1, 1, 0.000048),
            ("2026-03-02", "analysts", "analysts", 4, 1, 5.024652),
            ("2026-03-03", "airflow-marketing", "airflow", 1, 1, 0.0),
            ("2026-03-04", "analysts", "analysts", 1, 1, 0.000954),
            ("2026-03-04", "primary", "primary", 1, 1, 0.000048),
        ],
    ),
    "athena_top_queries": (
        """SELECT event_date, rank_in_day, actor, query FROM athena_top_queries ORDER BY 1, 2""",
        [
            ("2026-03-02", 1, JANE, "SELECT * FROM sales.orders"),
            ("2026-03-02", 2, JANE, "SELECT o.region, sum(o.amount) FROM sales.orders o JOIN sales.customers c ON o.customer_id = c.id GROUP BY 1"),
            ("2026-03-02", 3, JANE, "SELECT count(*) FROM sales.orders WHERE dt = '2026-03-01'"),
            ("2026-03-02", 4, MARCO, "SELECT campaign, count(*) FROM marketing.campaigns WHERE dt = '2026-03-02' GROUP BY 1"),
            ("2026-03-04", 1, ANA_ID, "SELECT sum(amount) FROM finance.invoices WHERE dt >= '2026-03-01'"),
            ("2026-03-04", 2, SCHEDULER, "SELECT count(*) FROM marketing.leads"),
        ],
    ),
    "athena_unusual_queries": (
        # jane's usual: (5 GiB + 50 MiB) / 2; the 1 TiB SELECT * is about 400 times that.
        "SELECT actor, query_execution_id, round(times_usual, 1) FROM athena_unusual_queries",
        [(JANE, "a1b2c3d4-1111-4222-8333-000000000005", 405.6)],
    ),
    # The table the README shows under "Athena cost per person".
    "readme_cost_per_person": (
        """SELECT person, sum(queries) AS queries, sum(failed_queries) AS failed, sum(not_enriched) AS not_enriched,
                  round(sum(data_scanned_bytes) / 1e9, 3) AS gb_scanned, round(sum(usd), 6) AS usd
           FROM athena_cost_daily GROUP BY person ORDER BY usd DESC NULLS LAST, person""",
        [
            (JANE, 4, 1, 0, 1104.933, 5.024652),
            (ANA, 1, 0, 0, 0.21, 0.000954),
            (MARCO, 2, 0, 0, 0.002, 0.000048),
            (SCHEDULER, 1, 0, 0, 0.005, 0.000048),
            ("johndoe", 1, 0, 1, None, None),
        ],
    ),
    # People: the resolved name where `trail-etl identities` found one, else the actor.
    "people": (
        "SELECT actor, person, display_name, email FROM people",
        [(ANA_ID, ANA, "Ana Silva", "ana.silva@example.com")],
    ),
}

# `person` beside `actor` in every view that shows an actor: (query, rows with
# identities resolved, rows before `trail-etl identities` has run).
_PERSON = {
    "table_reads_daily_person": (
        "SELECT DISTINCT actor, person FROM table_reads_daily WHERE event_date = '2026-03-04' ORDER BY 1",
        [(ANA_ID, ANA), (PRIYA, PRIYA)],
        [(ANA_ID, ANA_ID), (PRIYA, PRIYA)],
    ),
    "table_audit_person": (
        "SELECT actor, person FROM table_audit WHERE database_name = 'finance' AND table_name = 'invoices'",
        [(ANA_ID, ANA)],
        [(ANA_ID, ANA_ID)],
    ),
    "athena_usage_daily_person": (
        "SELECT actor, person FROM athena_usage_daily WHERE event_date = '2026-03-04' ORDER BY 1",
        [(ANA_ID, ANA), (SCHEDULER, SCHEDULER)],
        [(ANA_ID, ANA_ID), (SCHEDULER, SCHEDULER)],
    ),
    "athena_query_costs_person": (
        "SELECT query_execution_id, person FROM athena_query_costs WHERE event_date = '2026-03-04' ORDER BY 1",
        [("a1b2c3d4-1111-4222-8333-000000000011", ANA), ("a1b2c3d4-1111-4222-8333-000000000012", SCHEDULER)],
        [("a1b2c3d4-1111-4222-8333-000000000011", ANA_ID), ("a1b2c3d4-1111-4222-8333-000000000012", SCHEDULER)],
    ),
    "athena_cost_daily_person": (
        "SELECT person, queries FROM athena_cost_daily WHERE event_date = '2026-03-04' ORDER BY 1",
        [(ANA, 1), (SCHEDULER, 1)],
        [(ANA_ID, 1), (SCHEDULER, 1)],
    ),
    "athena_top_queries_person": (
        "SELECT rank_in_day, person FROM athena_top_queries WHERE event_date = '2026-03-04' ORDER BY 1",
        [(1, ANA), (2, SCHEDULER)],
        [(1, ANA_ID), (2, SCHEDULER)],
    ),
    "failed_and_s3_people_are_their_actors": (
        """SELECT (SELECT count(*) FROM failed_calls_daily WHERE person IS DISTINCT FROM actor),
                  (SELECT count(*) FROM s3_object_reads_daily WHERE person IS DISTINCT FROM actor),
                  (SELECT count(*) FROM athena_unusual_queries WHERE person IS DISTINCT FROM actor)""",
        [(0, 0, 0)],
        [(0, 0, 0)],
    ),
}
CASES.update({name: (query, present) for name, (query, present, _) in _PERSON.items()})
ABSENT_CASES = {name: (query, absent) for name, (query, _, absent) in _PERSON.items()}
ABSENT_CASES["people"] = ("SELECT count(*) FROM people", [(0,)])
