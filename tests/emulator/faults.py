"""A fault-injecting proxy in front of the emulator, for tests of apply's retries.

Usage: faults.py UPSTREAM RULE...   (prints `PORT <n>` once listening)

Each RULE is `METHOD:MATCH:COUNT:STATUS:CODE:MESSAGE`: the first COUNT requests whose
method is METHOD and whose path, query or X-Amz-Target contains MATCH are answered with
an AWS-style error (S3 XML or JSON, by the request's protocol) instead of being
forwarded. Everything else goes to UPSTREAM unchanged. moto accepts policies naming
roles that do not exist, so this is how the tests see IAM's propagation delay.
"""

import http.client
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

UPSTREAM = urlparse(sys.argv[1])
RULES = []
for spec in sys.argv[2:]:
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
        if rule:
            if target:
                payload = json.dumps({"__type": rule["code"], "message": rule["message"]}).encode()
                ctype = "application/x-amz-json-1.1"
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
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        conn.close()

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
