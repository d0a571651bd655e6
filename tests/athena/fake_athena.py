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

Usage: fake_athena.py --port P --history history.json [--throttle N] [--transient ID] [--log FILE]
"""

import argparse
import json
import http.server
import threading


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--history", required=True)
    parser.add_argument("--throttle", type=int, default=0)
    parser.add_argument("--transient", action="append", default=[])
    parser.add_argument("--log")
    args = parser.parse_args()
    executions = json.load(open(args.history))["executions"]
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
                    log.write(json.dumps({"request": n, "target": target, "ids": ids}) + "\n")
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

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
