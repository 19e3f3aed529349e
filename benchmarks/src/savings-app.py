# The savings benchmark's application pod: an HTTP/1.1 keep-alive server on 8080 answering every
# GET with a 1 KiB body. Python rather than Node so that 144 of them fit beside 144 sidecars on
# one machine (about 10 MiB each instead of 40): the benchmark measures the proxies, not the apps.
import http.server
import socketserver

BODY = b"x" * 1024


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("0.0.0.0", 8080), Handler).serve_forever()
