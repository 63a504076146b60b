"""Serves OAuth Client ID Metadata Documents over HTTPS on 127.0.0.1.

GET /clients/<name>.json   a client metadata document whose client_id is its own URL
GET /_fetches              {"/clients/python.json": 2, ...}: how often each document was fetched,
                           so the tests can see that Gatehouse really fetched it

The certificate comes from gen_certs.py; Gatehouse trusts its CA through
GATEHOUSE_EXTRA_CA_FILE. Documents exist for the names in --clients; all of them
list the one redirect URI given by --redirect-uri.

Usage: python cimd_server.py --port P --cert server.pem --key server.key --redirect-uri URI --clients python,typescript
"""
import argparse
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--redirect-uri", required=True)
    ap.add_argument("--clients", default="python,typescript")
    args = ap.parse_args()

    base = f"https://127.0.0.1:{args.port}"
    names = [n for n in args.clients.split(",") if n]
    fetches: dict[str, int] = {}
    lock = threading.Lock()

    def document(name: str) -> dict:
        return {
            "client_id": f"{base}/clients/{name}.json",
            "client_name": f"Gatehouse e2e ({name} SDK)",
            "client_uri": base,
            "redirect_uris": [args.redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
        }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _send(self, status: int, body: dict, cache: str = "no-store") -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = self.path.split("?", 1)[0]
            if path == "/_fetches":
                with lock:
                    self._send(200, dict(fetches))
                return
            for name in names:
                if path == f"/clients/{name}.json":
                    with lock:
                        fetches[path] = fetches.get(path, 0) + 1
                    self._send(200, document(name), cache="public, max-age=300")
                    return
            self._send(404, {"error": "not_found"})

        def log_message(self, fmt: str, *a) -> None:
            print(f"cimd: {self.address_string()} {fmt % a}", flush=True)

    httpd = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    httpd.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    # The handshake runs in the handler thread, so a slow client cannot stall accept().
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
    print(f"cimd: serving {', '.join(f'{base}/clients/{n}.json' for n in names)}", flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
