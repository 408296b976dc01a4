import http.client
import http.server
import threading


class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"text": "42"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


srv = http.server.HTTPServer(("127.0.0.1", 8000), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
for i in range(5):
    c = http.client.HTTPConnection("127.0.0.1", 8000, timeout=10)
    c.request("POST", "/generate", body=f'{{"prompt": "{i} + {i}"}}')
    print("agent: local server", c.getresponse().read())
    c.close()
srv.shutdown()
