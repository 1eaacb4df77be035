#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Helpers for test-pull.sh, on 127.0.0.1 only.

proxy PORT UPSTREAM_PORT LOG [RATE [flaky|trickle]]: a forwarding HTTP proxy in front of a plain registry,
    logging "METHOD PATH RANGE STATUS" per request to LOG and throttling responses to RATE bytes/s (0: no
    limit); "flaky" answers the first request for each manifest and blob with 503; "trickle" sends blobs
    of more than 64 KiB (layers, not configs) one byte every 0.2 s (fast enough for a low-speed limit,
    far too slow to finish), for at most 30 s.
token PORT CERT KEY USER PASSWORD ISSUER SERVICE LOG: a token endpoint for the registry's `auth: token:`
    config: GET /token?scope=repository:NAME:pull&service=S with Basic credentials USER:PASSWORD answers
    {"token": JWT} (RS256, the certificate in the x5c header), anything else 401.
"""
import base64, http.client, http.server, json, socketserver, sys, time, uuid
from urllib.parse import urlparse, parse_qs


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def proxy(port, upstream, log, rate, mode):
    flaky = mode == "flaky"
    seen = set()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            fail = flaky and ("/blobs/" in self.path or "/manifests/" in self.path) and self.path not in seen
            seen.add(self.path)
            with open(log, "a") as f:
                f.write("%s %s %s %s\n" % (self.command, self.path, self.headers.get("Range", "-"),
                                            503 if fail else "-"))
            if fail:
                self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            c = http.client.HTTPConnection("127.0.0.1", upstream)
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            c.request(self.command, self.path, headers=hdrs)
            r = c.getresponse()
            body = r.read() if self.command != "HEAD" else b""
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in ("connection", "transfer-encoding", "content-length"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body) if self.command != "HEAD" else
                                                    r.getheader("Content-Length", "0")))
            self.end_headers()
            if mode == "trickle" and "/blobs/" in self.path and len(body) > 64 * 1024:
                for i in range(min(len(body), 150)):
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    time.sleep(0.2)
                return
            chunk = 64 * 1024
            for i in range(0, len(body), chunk):
                self.wfile.write(body[i:i + chunk])
                self.wfile.flush()
                if rate:
                    time.sleep(chunk / rate)

        do_HEAD = do_GET

    Server(("127.0.0.1", port), H).serve_forever()


def token(port, cert, key, user, password, issuer, service, log):
    import jwt
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    c = x509.load_pem_x509_certificate(open(cert, "rb").read())
    x5c = base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode()
    k = open(key, "rb").read()
    want = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            auth = self.headers.get("Authorization", "")
            with open(log, "a") as f:
                f.write("%s %s\n" % (self.path, auth.split(" ")[0] or "-"))
            q = parse_qs(urlparse(self.path).query)
            if auth != want:
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            access = []
            for s in q.get("scope", []):
                t, name, actions = s.split(":")
                access.append({"type": t, "name": name, "actions": actions.split(",")})
            now = int(time.time())
            claims = {"iss": issuer, "sub": user, "aud": q.get("service", [service])[0], "exp": now + 600,
                      "nbf": now - 60, "iat": now, "jti": str(uuid.uuid4()), "access": access}
            tok = jwt.encode(claims, k, algorithm="RS256", headers={"x5c": [x5c]})
            body = json.dumps({"token": tok, "expires_in": 600}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    Server(("127.0.0.1", port), H).serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "proxy":
        proxy(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5]) if len(sys.argv) > 5 else 0,
              sys.argv[6] if len(sys.argv) > 6 else None)
    elif sys.argv[1] == "token":
        token(int(sys.argv[2]), *sys.argv[3:10])
    else:
        sys.exit("unknown helper " + sys.argv[1])
