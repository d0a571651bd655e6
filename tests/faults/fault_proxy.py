#!/usr/bin/env python3
"""A fault-injecting HTTP proxy in front of an S3-compatible server, for tests.

Forwards every request unchanged (the SigV4 signature stays valid) to
--upstream, and breaks GetObject answers on purpose, per object key:

- 1st GET of a key: HTTP 503 SlowDown (the SDK retries it);
- 2nd GET: the connection is closed without an answer (a reset);
- 3rd GET: the status and the full Content-Length are sent, then only half
  the body, then the connection is closed (the SDK does NOT retry a body cut
  midway: the caller must);
- later GETs: answered, every other one slowly (--slow-ms).
The very first request of all (a listing) also gets a 503.
Keys containing a --broken substring get a cut body on every GET.

With --down-after-gets N or --hang-after-gets N, nothing of the above: every
request is forwarded unchanged until N object GETs have been answered; then
the endpoint goes away (the process exits: connections reset, new ones
refused) or stops answering (every request is left waiting forever).

Usage: fault_proxy.py --port P --upstream http://127.0.0.1:U [--broken TEXT] [--slow-ms N]
                      [--down-after-gets N | --hang-after-gets N]
"""

import argparse
import http.client
import os
import http.server
import threading
import time
import urllib.parse


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--broken", action="append", default=[])
    parser.add_argument("--slow-ms", type=int, default=200)
    parser.add_argument("--down-after-gets", type=int)
    parser.add_argument("--hang-after-gets", type=int)
    args = parser.parse_args()
    upstream = urllib.parse.urlparse(args.upstream)
    lock = threading.Lock()
    gets = {}
    state = {"requests": 0}

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
            headers = {k: v for k, v in self.headers.items()}
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            out_headers = [(k, v) for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")]
            conn.close()
            return response.status, out_headers, data

        def send(self, status, headers, data, cut=False):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if cut:
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
            else:
                self.wfile.write(data)

        def slow_down(self):
            body = b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>'
            self.send(503, [("Content-Type", "application/xml")], body)

        def outage(self, limit, is_get_object):
            """Forward until `limit` object GETs were answered; then True (the outage has begun)."""
            with lock:
                if state.get("answered", 0) >= limit:
                    return True
                if is_get_object:
                    state["answered"] = state.get("answered", 0) + 1
            self.send(*self.forward())
            return False

        def handle_any(self):
            path = urllib.parse.urlparse(self.path)
            is_get_object = self.command == "GET" and "list-type" not in path.query and path.path.count("/") >= 2
            if args.down_after_gets is not None:
                if self.outage(args.down_after_gets, is_get_object):
                    os._exit(0)
                return
            if args.hang_after_gets is not None:
                if self.outage(args.hang_after_gets, is_get_object):
                    threading.Event().wait()
                return
            with lock:
                state["requests"] += 1
                first = state["requests"] == 1
            if first:
                self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
                return self.slow_down()
            if not is_get_object:
                return self.send(*self.forward())
            key = urllib.parse.unquote(path.path)
            with lock:
                gets[key] = gets.get(key, 0) + 1
                n = gets[key]
            if any(b in key for b in args.broken):
                status, headers, data = self.forward()
                return self.send(status, headers, data, cut=True)
            if n == 1:
                return self.slow_down()
            if n == 2:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            status, headers, data = self.forward()
            if n == 3:
                return self.send(status, headers, data, cut=True)
            if n % 2 == 0:
                time.sleep(args.slow_ms / 1000)
            self.send(status, headers, data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

        def log_message(self, *a):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
