"""A fault-injecting proxy in front of the emulator, for tests of apply's retries.

Usage: faults.py UPSTREAM [--random SEED ERROR_PERCENT DROP_PERCENT] RULE...
(prints `PORT <n>` once listening)

Each RULE is `METHOD:MATCH:COUNT:STATUS:CODE:MESSAGE`: the first COUNT requests whose
method is METHOD and whose path, query or X-Amz-Target contains MATCH are answered with
an AWS-style error (S3 XML, query-protocol XML or JSON, by the request's protocol)
instead of being forwarded. An empty CODE sends the status with no body; STATUS 0 drops
the connection without answering; STATUS -1 forwards the request and then drops the
connection (the emulator acted, the caller never hears of it). Everything else goes to UPSTREAM unchanged. moto
accepts policies naming roles that do not exist, so this is how the tests see IAM's
propagation delay.

`--random` adds seeded background noise to every other request, as AWS shows it under
load: ERROR_PERCENT of them get a throttling or 5xx error, DROP_PERCENT lose their
connection (half before reaching the emulator, half after it has acted, so that a
retried create meets what its first attempt made).
"""

import http.client
import json
import os
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

UPSTREAM = urlparse(sys.argv[1])
ARGS = sys.argv[2:]
NOISE = None
if ARGS[:1] == ["--random"]:
    seed, error_pct, drop_pct = ARGS[1:4]
    NOISE = {"rng": random.Random(int(seed)), "error": float(error_pct) / 100, "drop": float(drop_pct) / 100}
    ARGS = ARGS[4:]
RULES = []
for spec in ARGS:
    method, match, count, status, code, message = spec.split(":", 5)
    RULES.append({"method": method, "match": match, "left": int(count), "status": int(status), "code": code, "message": message})
LOCK = threading.Lock()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        with LOCK:
            rule = next(
                (r for r in RULES if r["left"] > 0 and r["method"] == self.command and (r["match"] in self.path or r["match"] in target)),
                None,
            )
            if rule:
                rule["left"] -= 1
        noise = None
        if rule and rule["status"] == -1:
            rule, noise = None, "drop-after"
        if not rule and not noise and NOISE:
            with LOCK:
                r = NOISE["rng"].random()
                pick = NOISE["rng"].random()
            if r < NOISE["drop"]:
                noise = "drop-before" if pick < 0.5 else "drop-after"
            elif r < NOISE["drop"] + NOISE["error"]:
                noise = ["throttle", "500", "503"][int(pick * 3)]
        if noise == "drop-before":
            self.close_connection = True
            return
        if noise in ("throttle", "500", "503"):
            s3 = not target and "x-www-form-urlencoded" not in self.headers.get("Content-Type", "")
            status, code, message = {
                "throttle": (503, "SlowDown", "Please reduce your request rate.") if s3 else (400, "ThrottlingException" if target else "Throttling", "Rate exceeded"),
                "500": (500, "InternalError" if s3 else "InternalFailure", "We encountered an internal error. Please try again."),
                "503": (503, "ServiceUnavailable", "Service is unable to handle request."),
            }[noise]
            rule = {"status": status, "code": code, "message": message}
        if rule:
            if rule["status"] == 0:
                self.close_connection = True
                return
            if not rule["code"]:
                payload, ctype = b"", "application/xml"
            elif target:
                payload = json.dumps({"__type": rule["code"], "message": rule["message"]}).encode()
                ctype = "application/x-amz-json-1.1"
            elif "x-www-form-urlencoded" in self.headers.get("Content-Type", ""):
                # Query protocol (IAM, STS): the error is wrapped in ErrorResponse.
                payload = (
                    f"<ErrorResponse><Error><Type>Sender</Type><Code>{rule['code']}</Code>"
                    f"<Message>{rule['message']}</Message></Error><RequestId>faults</RequestId></ErrorResponse>"
                ).encode()
                ctype = "text/xml"
            else:
                payload = f"<Error><Code>{rule['code']}</Code><Message>{rule['message']}</Message></Error>".encode()
                ctype = "application/xml"
            self.send_response(rule["status"])
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        if noise == "drop-after":
            # The emulator has acted; the caller never hears of it.
            self.close_connection = True
            return
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    print(f"PORT {server.server_address[1]}", flush=True)
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch_parent, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
