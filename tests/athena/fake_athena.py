#!/usr/bin/env python3
"""A small local stand-in for Amazon Athena's JSON protocol, for tests only.

No Athena emulator reports query statistics, so the tests serve Athena's own
history from a fixture file. It speaks `X-Amz-Target:
AmazonAthena.BatchGetQueryExecution` (awsJson1_1) on 127.0.0.1:

- ids in the history come back in `QueryExecutions`;
- unknown ids come back in `UnprocessedQueryExecutionIds` with
  `InvalidRequestException` (what Athena answers past its ~45-day retention);
- `--transient ID` answers that id as unprocessed with `InternalServerException`;
- `--throttle N` answers the first N requests with HTTP 400 `ThrottlingException`;
- more than 50 ids in one request is an error, as in Athena;
- every request is appended to `--log` as one JSON line.

With `--trino URL --trail-etl BIN` it also runs queries for real, on a Trino
server (the engine Athena v3 is built on) whose `hive` catalog reads the
lake: `StartQueryExecution` executes the statement (synchronously) and
records its outcome, `GetQueryExecution` reports it (`SUCCEEDED`, or
`FAILED` with Trino's message as `StateChangeReason`), `GetQueryResults`
pages the rows as Athena does (a header row first, then `VarCharValue`s).
Athena's Hive DDL is translated to the Trino form trail-etl generates for the
same table (`trail-etl ddl --engine trino`): `CREATE DATABASE` becomes
`CREATE SCHEMA`, `CREATE EXTERNAL TABLE` the table's Trino DDL and partition
sync, backquoted names plain ones; views and queries run unchanged in the
execution context's database.

Usage: fake_athena.py --port P --history history.json [--throttle N] [--transient ID] [--log FILE]
                      [--trino URL --trail-etl BIN]
"""

import argparse
import json
import http.server
import itertools
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "sql"))


def translate(sql, trail_etl):
    """Athena SQL (Hive DDL included) as the Trino statements to run."""
    text = sql.strip().rstrip(";").strip()
    m = re.match(r"(?is)CREATE\s+DATABASE\s+IF\s+NOT\s+EXISTS\s+`?(\w+)`?\s*$", text)
    if m:
        return [f"CREATE SCHEMA IF NOT EXISTS hive.{m.group(1)}"]
    m = re.match(r"(?is)CREATE\s+EXTERNAL\s+TABLE\s+IF\s+NOT\s+EXISTS\s+`(\w+)`\.`(\w+)`.*LOCATION\s+'([^']+)'", text)
    if m:
        db, name, location = m.groups()
        dest = location.rstrip("/").rsplit("/", 1)[0]
        ddl = subprocess.run(
            [trail_etl, "ddl", "--engine", "trino", "--dest", dest, "--database", db, "--catalog", "hive"],
            check=True, capture_output=True, text=True,
        ).stdout
        from trino_client import statements
        mine = [st for st in statements(ddl) if f'"{db}"."{name}"' in st or f"'{db}', '{name}'" in st]
        if not mine:
            raise ValueError(f"trail-etl ddl has no table {name}")
        return mine
    m = re.match(r"(?is)DROP\s+TABLE\s+(IF\s+EXISTS\s+)?`(\w+)`\.`(\w+)`\s*$", text)
    if m:
        return [f"DROP TABLE {m.group(1) or ''}hive.{m.group(2)}.{m.group(3)}"]
    return [text]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--history", required=True)
    parser.add_argument("--throttle", type=int, default=0)
    parser.add_argument("--transient", action="append", default=[])
    parser.add_argument("--log")
    parser.add_argument("--trino")
    parser.add_argument("--trail-etl")
    args = parser.parse_args()
    executions = json.load(open(args.history))["executions"]
    ran = {}
    counter = itertools.count(1)
    state = {"requests": 0}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-amzn-RequestId", "fake-athena")
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            target = self.headers.get("X-Amz-Target", "")
            with lock:
                state["requests"] += 1
                n = state["requests"]
            ids = body.get("QueryExecutionIds", [])
            if args.log:
                with lock, open(args.log, "a") as log:
                    log.write(json.dumps({"request": n, "target": target, "ids": ids,
                                          "query": body.get("QueryString"),
                                          "database": (body.get("QueryExecutionContext") or {}).get("Database")}) + "\n")
            if args.trino and target == "AmazonAthena.StartQueryExecution":
                return self.reply(200, {"QueryExecutionId": self.start(body)})
            if args.trino and target == "AmazonAthena.GetQueryExecution":
                run = ran.get(body.get("QueryExecutionId"))
                if run is None:
                    return self.reply(400, {"__type": "InvalidRequestException", "message": "QueryExecution not found"})
                return self.reply(200, {"QueryExecution": run["execution"]})
            if args.trino and target == "AmazonAthena.GetQueryResults":
                return self.results(body)
            if target != "AmazonAthena.BatchGetQueryExecution":
                return self.reply(400, {"__type": "UnknownOperationException", "message": target})
            if n <= args.throttle:
                return self.reply(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
            if not 1 <= len(ids) <= 50:
                return self.reply(400, {"__type": "InvalidRequestException", "message": "QueryExecutionIds must hold 1 to 50 ids"})
            found, unprocessed = [], []
            for qid in ids:
                if qid in args.transient:
                    unprocessed.append({"QueryExecutionId": qid, "ErrorCode": "InternalServerException", "ErrorMessage": "try again"})
                elif qid in executions:
                    found.append(executions[qid])
                else:
                    unprocessed.append({"QueryExecutionId": qid, "ErrorCode": "InvalidRequestException",
                                        "ErrorMessage": f"QueryExecution {qid} was not found"})
            self.reply(200, {"QueryExecutions": found, "UnprocessedQueryExecutionIds": unprocessed})

        def start(self, body):
            from trino_client import execute
            qid = f"f0000000-0000-4000-8000-{next(counter):012d}"
            sql = body.get("QueryString", "")
            database = (body.get("QueryExecutionContext") or {}).get("Database") or "default"
            submitted = time.time()
            status = {"State": "SUCCEEDED", "SubmissionDateTime": submitted}
            columns, rows = [], []
            try:
                for statement in translate(sql, args.trail_etl):
                    columns, rows = execute(args.trino, statement, schema=database)
            except Exception as error:  # Trino's error, as Athena reports a failed query
                status = {"State": "FAILED", "StateChangeReason": str(error).split("\n--- statement")[0],
                          "SubmissionDateTime": submitted}
            status["CompletionDateTime"] = time.time()
            ran[qid] = {
                "execution": {
                    "QueryExecutionId": qid, "Query": sql, "Status": status,
                    "StatementType": "DDL" if re.match(r"(?is)\s*(CREATE|DROP|ALTER)", sql) else "DML",
                    "QueryExecutionContext": {"Database": database, "Catalog": "awsdatacatalog"},
                    "WorkGroup": body.get("WorkGroup", "primary"),
                },
                "columns": columns,
                "rows": rows,
            }
            return qid

        def results(self, body):
            run = ran.get(body.get("QueryExecutionId"))
            if run is None or run["execution"]["Status"]["State"] != "SUCCEEDED":
                return self.reply(400, {"__type": "InvalidRequestException", "message": "query has not succeeded"})
            cell = lambda v: {} if v is None else {"VarCharValue": v if isinstance(v, str) else json.dumps(v)}
            header = [{"Data": [{"VarCharValue": c} for c in run["columns"]]}] if run["columns"] else []
            every = header + [{"Data": [cell(v) for v in row]} for row in run["rows"]]
            start = int(body.get("NextToken") or 0)
            size = int(body.get("MaxResults") or 1000)
            page = {"ResultSet": {
                "Rows": every[start:start + size],
                "ResultSetMetadata": {"ColumnInfo": [{"Name": c, "Label": c, "Type": "varchar"} for c in run["columns"]]},
            }}
            if start + size < len(every):
                page["NextToken"] = str(start + size)
            return self.reply(200, page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
