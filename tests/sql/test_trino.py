"""The DDL and the views on a real Trino server (the engine Athena v3 is built
on): trail-etl writes the tables to an S3-compatible server (s3s-fs) on
127.0.0.1, Trino's Hive connector reads them through its native S3 file
system, `trail-etl ddl --engine trino` creates the tables, every view of
sql/views is created unchanged, and each case of cases.py returns the same
rows as on DuckDB.

Needs TRINO_HOME (a trino-server-core with the Hive plugin), a Java 24+ in
TRINO_JAVA_HOME and s3s-fs; `bash .ci/run` installs them (tests/sql/setup-trino.sh)
and sets TRAIL_REQUIRE_TRINO=1 so that a missing server fails instead of skipping.
"""

import os
import pathlib
import shutil
import socket
import subprocess
import tempfile
import time
import json
import urllib.request

import pytest

from cases import ABSENT_CASES, CASES
from conftest import AWS_TEST_ENV, ROOT, TABLES, create_views, enrich, fake_athena, fake_identitystore, identities, stand_in, trail_etl
from trino_client import execute, statements

ACCESS, SECRET = "trail-test-access", "trail-test-secret"

# What the ABSENT_CASES gave before `trail-etl identities` ran (the trino fixture fills it).
BEFORE_IDENTITIES = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(check, what: str, timeout: float):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{what} did not start within {timeout}s")


@pytest.fixture(scope="module")
def trino(trino_and_s3):
    return trino_and_s3[0]


@pytest.fixture(scope="module")
def trino_and_s3():
    home = os.environ.get("TRINO_HOME")
    if not home:
        if os.environ.get("TRAIL_REQUIRE_TRINO"):
            pytest.fail("TRINO_HOME is not set (tests/sql/setup-trino.sh prints it)")
        pytest.skip("TRINO_HOME not set: run bash .ci/run, which installs Trino, to include this check")
    java_home = os.environ["TRINO_JAVA_HOME"]
    s3s = os.environ.get("TRAIL_S3S_FS") or shutil.which("s3s-fs") or str(pathlib.Path.home() / ".cargo/bin/s3s-fs")
    work = pathlib.Path(tempfile.mkdtemp(prefix="trail-trino-"))
    processes = []
    try:
        # S3-compatible store with the tables trail-etl writes.
        (work / "s3" / "lake").mkdir(parents=True)
        s3_port = free_port()
        processes.append(subprocess.Popen(
            [s3s, "--host", "127.0.0.1", "--port", str(s3_port), "--access-key", ACCESS, "--secret-key", SECRET, str(work / "s3")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        ))
        wait_for(lambda: socket.create_connection(("127.0.0.1", s3_port), timeout=1).close() is None, "s3s-fs", 20)
        env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS, AWS_SECRET_ACCESS_KEY=SECRET, AWS_REGION="us-east-1",
                   AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null")
        env.pop("AWS_PROFILE", None)
        subprocess.run(
            [trail_etl(), "run", "--source", str(ROOT / "examples" / "bucket"), "--dest", "s3://lake/tables",
             "--endpoint-url", f"http://127.0.0.1:{s3_port}", "--force-path-style", "-q"],
            check=True, env=env,
        )
        with fake_athena() as url:
            enrich("s3://lake/tables", url, ["--endpoint-url", f"http://127.0.0.1:{s3_port}", "--force-path-style"])

        # Trino: one node, a Hive catalog with a file metastore in the same store.
        etc = work / "etc"
        (etc / "catalog").mkdir(parents=True)
        port = free_port()
        (etc / "node.properties").write_text(f"node.environment=test\nnode.id=trail-test\nnode.data-dir={work / 'data'}\n")
        (etc / "jvm.config").write_text("-server\n-Xmx2G\n-XX:+UseG1GC\n-XX:+ExitOnOutOfMemoryError\n-Djdk.attach.allowAttachSelf=true\n")
        (etc / "config.properties").write_text(
            f"coordinator=true\nnode-scheduler.include-coordinator=true\nhttp-server.http.port={port}\n"
            f"discovery.uri=http://127.0.0.1:{port}\nquery.max-memory=1GB\nquery.max-memory-per-node=1GB\n"
        )
        (etc / "log.properties").write_text("io.trino=WARN\n")
        (etc / "catalog" / "hive.properties").write_text(
            "connector.name=hive\nhive.metastore=file\nhive.metastore.catalog.dir=s3://lake/metastore\n"
            f"fs.native-s3.enabled=true\ns3.endpoint=http://127.0.0.1:{s3_port}\ns3.region=us-east-1\n"
            f"s3.path-style-access=true\ns3.aws-access-key={ACCESS}\ns3.aws-secret-key={SECRET}\n"
        )
        log = open(work / "trino.log", "w")
        trino_env = dict(os.environ, JAVA_HOME=java_home, PATH=f"{java_home}/bin:{os.environ['PATH']}")
        processes.append(subprocess.Popen(
            [f"{home}/bin/launcher", "run", f"--etc-dir={etc}"], stdout=log, stderr=subprocess.STDOUT, env=trino_env,
        ))
        base = f"http://127.0.0.1:{port}"
        try:
            wait_for(lambda: b'"starting":false' in urllib.request.urlopen(f"{base}/v1/info", timeout=2).read(), "Trino", 180)
        except TimeoutError:
            raise TimeoutError((work / "trino.log").read_text()[-4000:])

        execute(base, "CREATE SCHEMA IF NOT EXISTS hive.cloudtrail", schema="default")
        ddl = subprocess.run(
            [trail_etl(), "ddl", "--engine", "trino", "--dest", "s3://lake/tables", "--database", "cloudtrail"],
            check=True, capture_output=True, text=True,
        ).stdout
        for statement in statements(ddl):
            execute(base, statement)
        def create(path):
            for statement in statements(path.read_text()):
                execute(base, statement)

        create_views(create)
        # The identities table is there but its folder empty: the views work,
        # and `person` is the actor. Then resolve the ids: the same views, the
        # same Hive tables, now show names.
        for name, (query, _) in ABSENT_CASES.items():
            BEFORE_IDENTITIES[name] = execute(base, query)[1]
        with fake_identitystore() as url:
            identities("s3://lake/tables", url, ["--endpoint-url", f"http://127.0.0.1:{s3_port}", "--force-path-style"])
        yield base, s3_port
    finally:
        for p in reversed(processes):
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def test_tables_hold_every_row(trino):
    _, got = execute(
        trino,
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM table_access), "
        "(SELECT count(*) FROM athena_queries), (SELECT count(*) FROM athena_query_stats)",
    )
    assert got == [(70, 18, 10, 8)]


@pytest.mark.parametrize("table", TABLES)
def test_text_values_read_the_same_as_duckdb(trino, db, table):
    """Every text value of every row, as Trino decodes it (free-form columns
    are DELTA_LENGTH_BYTE_ARRAY, the others dictionary-encoded) and as DuckDB
    reads the local run of the same bucket."""
    columns = [
        name
        for name, kind, *_ in db.execute(f"DESCRIBE {table}").fetchall()
        if kind == "VARCHAR" and name != "event_date"
    ]
    assert columns
    sql = f"SELECT {', '.join(columns)} FROM {table}"
    _, got = execute(trino, sql)
    expected = db.execute(sql).fetchall()
    assert len(got) == len(expected) > 0
    assert sorted(map(repr, got)) == sorted(map(repr, map(tuple, expected)))


# Each non-text type as a number both engines print alike: (Trino, DuckDB).
NUMBERS = {
    "BIGINT": ("{c}", "{c}"),
    "BOOLEAN": ("CAST({c} AS INTEGER)", "CAST({c} AS INTEGER)"),
    "DOUBLE": ("{c}", "{c}"),
    "DATE": ("date_diff('day', DATE '1970-01-01', {c})", "date_diff('day', DATE '1970-01-01', {c})"),
    "TIMESTAMP WITH TIME ZONE": ("CAST(round(to_unixtime({c}) * 1000) AS BIGINT)", "epoch_ms({c})"),
}


@pytest.mark.parametrize("table", TABLES)
def test_other_values_read_the_same_as_duckdb(trino, db, table):
    """Every time, date, number and flag of every row (integers that are not
    dictionary-encoded are DELTA_BINARY_PACKED, booleans RLE, all in data
    pages v2), as Trino decodes it and as DuckDB reads the local run
    (`fetched_at` is when each of the two enrich runs asked Athena)."""
    columns = [
        (name, NUMBERS[kind])
        for name, kind, *_ in db.execute(f"DESCRIBE {table}").fetchall()
        if kind in NUMBERS and name not in ("event_date", "fetched_at")
    ]
    assert columns
    trino_sql = ", ".join(t.format(c=name) for name, (t, _) in columns)
    duck_sql = ", ".join(d.format(c=name) for name, (_, d) in columns)
    _, got = execute(trino, f"SELECT {trino_sql} FROM {table}")
    expected = db.execute(f"SELECT {duck_sql} FROM {table}").fetchall()
    assert len(got) == len(expected) > 0
    assert sorted(map(repr, got)) == sorted(map(repr, map(tuple, expected)))


def test_resources_read_the_same_as_duckdb(trino, db):
    """The text leaves of `resources` (a list of structs), one row per item."""
    fields = "r.arn, r.arn_prefix, r.account_id, r.type"
    _, got = execute(trino, f"SELECT event_id, {fields} FROM events CROSS JOIN UNNEST(resources) AS r (arn, arn_prefix, account_id, type)")
    expected = db.execute(
        f"SELECT event_id, {fields} FROM (SELECT event_id, unnest(resources) AS r FROM events)"
    ).fetchall()
    assert len(got) == len(expected) > 0
    assert sorted(map(repr, got)) == sorted(map(repr, map(tuple, expected)))


@pytest.mark.parametrize("name", sorted(CASES))
def test_view_results_on_trino(trino, name):
    query, expected = CASES[name]
    _, got = execute(trino, query)
    assert got == expected


@pytest.mark.parametrize("name", sorted(ABSENT_CASES))
def test_views_before_identities_are_resolved_on_trino(trino, name):
    assert BEFORE_IDENTITIES[name] == ABSENT_CASES[name][1]


def athena_call(url, target, body):
    """One call of Athena's JSON protocol to the stand-in (it checks no signature)."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"X-Amz-Target": f"AmazonAthena.{target}", "Content-Type": "application/x-amz-json-1.1"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.load(response)


def athena_rows(url, sql, database):
    """Run a query through the stand-in's Athena API; its rows as strings (the header row dropped)."""
    qid = athena_call(url, "StartQueryExecution", {"QueryString": sql, "QueryExecutionContext": {"Database": database}})["QueryExecutionId"]
    status = athena_call(url, "GetQueryExecution", {"QueryExecutionId": qid})["QueryExecution"]["Status"]
    assert status["State"] == "SUCCEEDED", status
    rows, token, first = [], None, True
    while True:
        page = athena_call(url, "GetQueryResults", {"QueryExecutionId": qid, **({"NextToken": token} if token else {}), "MaxResults": 2})
        got = [[d.get("VarCharValue") for d in r["Data"]] for r in page["ResultSet"]["Rows"]]
        rows.extend(got[1:] if first else got)
        first = False
        token = page.get("NextToken")
        if not token:
            return rows


def install(url, s3_port, *extra):
    env = dict(os.environ, **AWS_TEST_ENV, AWS_ENDPOINT_URL_ATHENA=url)
    env.pop("AWS_PROFILE", None)
    return subprocess.run(
        [trail_etl(), "athena", "install", "--dest", "s3://lake/tables", "--json", *extra],
        capture_output=True, text=True, env=env,
    )


def test_athena_install_creates_everything_once_and_every_view_answers(trino_and_s3, tmp_path):
    """`trail-etl athena install` through a stand-in for Athena's API that runs
    each statement on the Trino server (Athena's Hive DDL as the Trino form
    trail-etl generates), into a database of its own."""
    base, s3_port = trino_and_s3
    log = tmp_path / "athena.jsonl"
    with stand_in("athena/fake_athena.py", "--history", str(ROOT / "tests" / "athena" / "history.json"),
                  "--trino", base, "--trail-etl", trail_etl(), "--log", str(log)) as url:
        first = install(url, s3_port, "--database", "installed", "--workgroup", "analysts",
                        "--output-location", "s3://lake/athena-results/")
        assert first.returncode == 0, first.stderr
        summary = json.loads(first.stdout)
        views = sorted(p.stem for p in (ROOT / "sql" / "views").glob("*.sql"))
        assert sorted(summary["tables_created"]) == sorted(TABLES + ("identities",))
        assert sorted(summary["views"]) == views
        assert summary["views"].index("people") < summary["views"].index("table_access_unique")
        sent = [json.loads(line) for line in log.read_text().splitlines()]
        assert sent[0]["query"] == "CREATE DATABASE IF NOT EXISTS `installed`"
        # Every view answers through the API, with the rows it has in the database the tests built directly.
        for view in views:
            got = athena_rows(url, f"SELECT count(*) FROM {view}", "installed")
            _, expected = execute(base, f"SELECT count(*) FROM {view}")
            assert got == [[str(expected[0][0])]], view
        assert athena_rows(url, "SELECT person FROM athena_cost_daily WHERE event_date = '2026-03-04' ORDER BY 1", "installed") == [
            ["ana.silva"], ["reporting-scheduler"]]

        # Twice: no table created or dropped, the views replaced by themselves.
        before = len(log.read_text().splitlines())
        second = install(url, s3_port, "--database", "installed")
        assert second.returncode == 0, second.stderr
        again = json.loads(second.stdout)
        assert again["tables_created"] == [] and again["tables_replaced"] == []
        assert sorted(again["tables_unchanged"]) == sorted(TABLES + ("identities",))
        later = [json.loads(line)["query"] or "" for line in log.read_text().splitlines()[before:]]
        assert not any("CREATE EXTERNAL TABLE" in q or "DROP TABLE" in q for q in later), later

        # A table whose columns changed is dropped and created again.
        execute(base, "DROP TABLE hive.installed.identities")
        execute(base, "CREATE TABLE hive.installed.identities (user_id varchar) "
                      "WITH (format = 'PARQUET', external_location = 's3://lake/tables/identities/')")
        third = json.loads(install(url, s3_port, "--database", "installed").stdout)
        assert third["tables_replaced"] == ["identities"]
        assert athena_rows(url, "SELECT count(*) FROM people", "installed") == [["1"]]

        # --dry-run prints the statements in order and calls nothing.
        before = len(log.read_text().splitlines())
        dry = install(url, s3_port, "--database", "installed", "--dry-run")
        assert dry.returncode == 0
        assert dry.stdout.startswith("-- trail-etl\nCREATE DATABASE IF NOT EXISTS `installed`;")
        assert dry.stdout.count("-- sql/views/") == len(views)
        assert len(log.read_text().splitlines()) == before

        # A failing statement stops the install with Athena's error and its file.
        # (A table where the view `people` goes: CREATE OR REPLACE VIEW fails.)
        execute(base, "CREATE SCHEMA IF NOT EXISTS hive.broken")
        execute(base, "CREATE TABLE hive.broken.people (user_id varchar) "
                      "WITH (format = 'PARQUET', external_location = 's3://lake/tables/identities/')")
        failed = install(url, s3_port, "--database", "broken")
        assert failed.returncode == 1, failed.stderr
        assert "trail: athena install failed: sql/views/people.sql: Athena: " in failed.stderr, failed.stderr
        report = json.loads(failed.stdout)
        assert report["exit_code"] == 1 and "people.sql" in report["error"]


def expand_macros(sql, start, end):
    """The range macros as Grafana's Athena data source expands them (pkg/athena/macros.go)."""
    return sql.replace("$__timeFrom()", f"TIMESTAMP '{start} 00:00:00'").replace("$__timeTo()", f"TIMESTAMP '{end} 23:59:59'")


def chromium():
    """Debian's chromium, which .ci/run installs; without it the browser check is skipped (failed under CI)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        if os.environ.get("TRAIL_REQUIRE_CHROMIUM"):
            pytest.fail("chromium is not installed (bash .ci/run installs Debian's chromium package)")
        pytest.skip("chromium not installed: run bash .ci/run to include the browser check")
    return found


def test_athena_report_and_dashboard_answer_through_the_stand_in(trino_and_s3, tmp_path):
    """The report and the dashboard from a lake `run` wrote, through the Athena
    stand-in; the page opened in a headless browser, which requests nothing."""
    base, s3_port = trino_and_s3
    with stand_in("athena/fake_athena.py", "--history", str(ROOT / "tests" / "athena" / "history.json"),
                  "--trino", base, "--trail-etl", trail_etl()) as url:
        assert install(url, s3_port, "--database", "reported").returncode == 0
        env = dict(os.environ, **AWS_TEST_ENV, AWS_ENDPOINT_URL_ATHENA=url)
        env.pop("AWS_PROFILE", None)
        page_path = tmp_path / "report.html"
        made = subprocess.run(
            [trail_etl(), "athena", "report", "--database", "reported", "--days", "3", "--end", "2026-03-04",
             "--out", str(page_path), "--json"],
            capture_output=True, text=True, env=env,
        )
        assert made.returncode == 0, made.stderr
        summary = json.loads(made.stdout)
        assert (summary["start"], summary["end"]) == ("2026-03-02", "2026-03-04")
        page = page_path.read_text()
        assert "Period: <b>2026-03-02</b> to <b>2026-03-04</b>" in page
        for name in ("ana.silva", "jane.doe@example.com", "marco.rossi@example.com", "priya.nair@example.com",
                     "sales.orders", "AccessDenied"):
            assert name in page, name
        assert page.count("<svg") >= 4
        for external in ("<script", "<link", "src=", "href=", "url(", "@import"):
            assert external not in page, external

        # A query Athena refuses (no such database): exit 1, the question named, no page.
        refused = subprocess.run(
            [trail_etl(), "athena", "report", "--database", "nowhere", "--days", "3", "--end", "2026-03-04",
             "--out", str(tmp_path / "refused.html")],
            capture_output=True, text=True, env=env,
        )
        assert refused.returncode == 1, refused.stderr
        assert "trail: athena report failed: report: cost_per_workgroup" in refused.stderr, refused.stderr
        assert not (tmp_path / "refused.html").exists()

        # Every dashboard query, its macros expanded as the plugin does, runs through the stand-in.
        dashboard = json.loads(subprocess.run(
            [trail_etl(), "athena", "dashboard", "--database", "reported"], capture_output=True, text=True, check=True,
        ).stdout)
        assert len(dashboard["panels"]) == 6
        for panel in dashboard["panels"]:
            target = panel["targets"][0]
            assert target["datasource"]["type"] == "grafana-athena-datasource"
            rows = athena_rows(url, expand_macros(target["rawSQL"], "2026-03-01", "2026-03-04"),
                               target["connectionArgs"]["database"])
            if panel["title"] != "Tables nobody read for 90 days":
                assert rows, panel["title"]

    # The page in a real browser: it renders, shows the names, and asks the network for nothing.
    dom, asked = open_in_browser(page_path, tmp_path / "net.json")
    assert "ana.silva" in dom and "<svg" in dom
    assert asked == set(), asked
    if os.environ.get("TRAIL_REPORT_SCREENSHOT"):  # the README's picture: TRAIL_REPORT_SCREENSHOT=docs/report.png
        subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--window-size=1200,2250", f"--screenshot={os.environ['TRAIL_REPORT_SCREENSHOT']}",
                        page_path.as_uri()], check=True, capture_output=True, timeout=120)
    # (The check sees a page that does ask: an image from elsewhere.)
    leaky = tmp_path / "leaky.html"
    leaky.write_text("<!DOCTYPE html><html><body><img src='http://example.com/x.png'></body></html>")
    assert open_in_browser(leaky, tmp_path / "leaky.json")[1] == {"http://example.com/x.png"}


def open_in_browser(page, net_log):
    """Render `page` in headless chromium; its DOM and the URLs the page itself
    requested (in the net log, the browser's own background fetches have
    initiator 'not an origin'; the page's, its origin)."""
    browser = chromium()
    shown = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--log-net-log={net_log}", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    events = json.loads(net_log.read_text())["events"]
    asked = {
        e["params"]["url"] for e in events
        if "url" in e.get("params", {}) and e["params"].get("initiator", "not an origin") != "not an origin"
    }
    return shown.stdout, asked
