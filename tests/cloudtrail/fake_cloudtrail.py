#!/usr/bin/env python3
"""A small local stand-in for AWS CloudTrail's ListPublicKeys, for tests only.

CloudTrail's digest files are signed with keys only CloudTrail holds, so the
tests sign their own digests and serve the public key here. It speaks
`X-Amz-Target: com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.ListPublicKeys`
(awsJson1_1) on 127.0.0.1 and answers with the keys of --keys, a JSON file
`{"keys": [{"Fingerprint": ..., "Value": base64 of the PKCS #1 DER key,
"ValidityStartTime": epoch seconds, "ValidityEndTime": epoch seconds}]}`:
those whose validity overlaps the requested StartTime..EndTime, as CloudTrail
does (a missing bound is taken as now). Keys are paged one per answer, so
clients must follow NextToken. Every request is appended to --log as one
JSON line.

Usage: fake_cloudtrail.py --port P --keys keys.json [--log FILE]
"""

import argparse
import http.server
import json
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", required=True)
    parser.add_argument("--log")
    args = parser.parse_args()
    keys = json.load(open(args.keys))["keys"]
    lock = threading.Lock()

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
            if args.log:
                with lock, open(args.log, "a") as f:
                    f.write(json.dumps({"target": target, "body": body}) + "\n")
            if not target.endswith(".ListPublicKeys"):
                return self.reply(400, {"__type": "UnknownOperationException", "message": target})
            now = time.time()
            start = body.get("StartTime", now)
            end = body.get("EndTime", now)
            matching = [k for k in keys if k["ValidityStartTime"] <= end and k["ValidityEndTime"] >= start]
            index = int(body.get("NextToken", "0"))
            page = {"PublicKeyList": matching[index:index + 1]}
            if index + 1 < len(matching):
                page["NextToken"] = str(index + 1)
            self.reply(200, page)

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
