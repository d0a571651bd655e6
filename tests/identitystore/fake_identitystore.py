#!/usr/bin/env python3
"""A small local stand-in for the AWS Identity Store API's DescribeUser, for tests only.

It speaks `X-Amz-Target: AWSIdentityStore.DescribeUser` (awsJson1_1) on
127.0.0.1 and answers from --users, a JSON file
`{"IDENTITY_STORE_ID": {"USER_ID": {DescribeUser's answer}}}` (written from
the API reference's example: the answer holds much more than names, phones,
addresses and titles among it):

- a known user: HTTP 200 with the answer;
- an id the store does not know: HTTP 400 `ResourceNotFoundException`, as the
  API answers for a deleted user or another store's id;
- `--throttle N`: the first N requests get HTTP 400 `ThrottlingException`;
- every request is appended to --log as one JSON line.

Usage: fake_identitystore.py --port P --users users.json [--throttle N] [--log FILE]
"""

import argparse
import http.server
import json
import threading


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--throttle", type=int, default=0)
    parser.add_argument("--log")
    args = parser.parse_args()
    stores = json.load(open(args.users))
    lock = threading.Lock()
    state = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def reply(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/x-amz-json-1.1")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0) or 0)) or b"{}")
            target = self.headers.get("X-Amz-Target", "")
            with lock:
                state["requests"] += 1
                throttled = state["requests"] <= args.throttle
                if args.log:
                    with open(args.log, "a") as f:
                        f.write(json.dumps({"target": target, "body": body, "throttled": throttled}) + "\n")
            if not target.endswith(".DescribeUser"):
                return self.reply(400, {"__type": "UnknownOperationException", "Message": target})
            if throttled:
                return self.reply(400, {"__type": "ThrottlingException", "Message": "Rate exceeded"})
            user = stores.get(body.get("IdentityStoreId"), {}).get(body.get("UserId"))
            if user is None:
                return self.reply(400, {
                    "__type": "ResourceNotFoundException",
                    "Message": "USER not found.",
                    "ResourceType": "USER",
                    "ResourceId": body.get("UserId"),
                })
            self.reply(200, user)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
