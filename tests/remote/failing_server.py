"""An HTTP server on 127.0.0.1 that serves one file with range requests, then fails.

    python3 failing_server.py FILE GOOD PORTFILE

Answers the first GOOD requests properly (206 with the asked range) and every later one with
503, as a backend that breaks down in the middle of a read would. Writes its port to PORTFILE.
"""
import http.server
import os
import sys

path, good, port_file = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
served = 0


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        global served
        served += 1
        if served > good:
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        first, last = 0, len(data) - 1
        rng = self.headers.get("Range", "")
        if rng.startswith("bytes="):
            a, b = rng[6:].split("-")
            first, last = int(a), min(int(b), len(data) - 1)
        body = data[first : last + 1]
        self.send_response(206)
        self.send_header("Content-Range", f"bytes {first}-{last}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("ETag", '"fixed"')
        self.end_headers()
        self.wfile.write(body)


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
