#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A small HTTP/1.1 file server for the bootstrap tests, with fault injection.

Serves DIRECTORY on 127.0.0.1 (port 0 = a random free one) with keep-alive, HEAD, single Range
requests (206/416, If-Range) and If-Modified-Since (304). Writes the port it listens on to
--port-file (atomically, once it accepts connections) and appends one line per request to --log:
"METHOD PATH STATUS BYTES" (PATH decoded, without the query; BYTES = body bytes actually sent).

Faults, matched against the end of the decoded request path (each option can be repeated; the
value is split at its last colon, so the suffix may contain colons):
  --die-after SUFFIX:BYTES    headers with the full Content-Length, BYTES bytes of the body, then the
                              connection is reset (GET only)
  --status SUFFIX:CODE        answer CODE (e.g. 404, 500) with a short body
  --slow SUFFIX:BYTES_PER_SEC send the body at about that rate
Runs in the foreground; SIGTERM or SIGINT stops it (exit 0).
"""

import argparse
import email.utils
import os
import posixpath
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


def suffix_option(kind):
    def parse(value):
        suffix, sep, number = value.rpartition(":")
        if not sep or not suffix:
            raise argparse.ArgumentTypeError(f"{value!r}: expected PATH_SUFFIX:{kind}")
        try:
            n = int(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r}: {number!r} is not a number") from None
        if n < 0 or (kind == "BYTES_PER_SEC" and n == 0):
            raise argparse.ArgumentTypeError(f"{value!r}: {kind} out of range")
        return suffix, n
    return parse


def first_match(rules, path):
    for suffix, value in rules:
        if path.endswith(suffix):
            return value
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mkmachine-aptrepo/1"
    sys_version = ""

    # Filled in by main().
    root = "."
    opts = None
    log_file = None
    log_lock = threading.Lock()

    def log_message(self, format, *args):  # noqa: A002 - the base class' signature
        pass

    def record(self, status, sent):
        if self.log_file is None:
            return
        path = getattr(self, "fs_path_for_log", self.path)
        line = f"{self.command} {path.replace(' ', '%20')} {status} {sent}\n"
        with self.log_lock:
            self.log_file.write(line)
            self.log_file.flush()

    def finish(self):
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self):
        self.serve(head=False)

    def do_HEAD(self):
        self.serve(head=True)

    def simple(self, code, head, extra=None):
        body = b"" if code == 304 else f"{code} {self.responses.get(code, ('',))[0]}\n".encode()
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        if code != 304:
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
        send = b"" if head else body
        # Logged before the response leaves: a client that has it sees the line in the log.
        self.record(code, len(send))
        self.end_headers()
        if send:
            self.wfile.write(send)

    def serve(self, head):
        raw = urllib.parse.urlsplit(self.path).path
        path = urllib.parse.unquote(raw)
        self.fs_path_for_log = path
        opts = self.opts

        code = first_match(opts.status, path)
        if code is not None:
            self.simple(code, head)
            return

        rel = posixpath.normpath("/" + path).lstrip("/")
        full = os.path.join(self.root, rel) if rel not in ("", ".") else self.root
        if ".." in rel.split("/") or not os.path.isfile(full):
            self.simple(404, head)
            return
        try:
            f = open(full, "rb")
        except OSError:
            self.simple(403, head)
            return
        with f:
            st = os.fstat(f.fileno())
            size = st.st_size
            last_modified = email.utils.formatdate(int(st.st_mtime), usegmt=True)
            etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'

            ims = self.headers.get("If-Modified-Since")
            if ims and "Range" not in self.headers:
                try:
                    since = email.utils.parsedate_to_datetime(ims).timestamp()
                except (TypeError, ValueError, IndexError, OverflowError):
                    since = None
                if since is not None and int(st.st_mtime) <= since:
                    self.simple(304, head, {"Last-Modified": last_modified, "ETag": etag})
                    return

            start, end, status = 0, size - 1, 200
            rng = self.headers.get("Range")
            if_range = self.headers.get("If-Range")
            if rng and (if_range is None or if_range.strip() in (last_modified, etag)):
                parsed = self.parse_range(rng, size)
                if parsed == "unsatisfiable":
                    self.simple(416, head, {"Content-Range": f"bytes */{size}"})
                    return
                if parsed is not None:
                    start, end = parsed
                    status = 206
            length = end - start + 1 if size else 0

            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(length))
            self.send_header("Last-Modified", last_modified)
            self.send_header("ETag", etag)
            self.send_header("Accept-Ranges", "bytes")
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            die_after = first_match(opts.die_after, path)
            rate = first_match(opts.slow, path)
            limit = 0 if head else length if die_after is None else min(die_after, length)
            # The line is logged just before the last bytes of the response leave, so that a
            # client that got them finds it in the log (BYTES may overstate a transfer that
            # the client broke off during its last chunk).
            recorded = False
            if limit == 0:
                self.record(status, 0)
                recorded = True
            self.end_headers()
            f.seek(start)
            sent = 0
            t0 = time.monotonic()
            try:
                while sent < limit:
                    n = min(CHUNK, limit - sent)
                    if rate:
                        n = min(n, max(1, rate // 10))
                    data = f.read(n)
                    if not data:
                        break
                    if sent + len(data) >= limit:
                        self.record(status, sent + len(data))
                        recorded = True
                    self.wfile.write(data)
                    sent += len(data)
                    if rate:
                        ahead = sent / rate - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)
            except OSError:
                self.close_connection = True
                if not recorded:
                    self.record(status, sent)
                return
            if not recorded:
                self.record(status, sent)
            if not head and die_after is not None and sent < length:
                self.reset_connection()

    def parse_range(self, value, size):
        """(start, end) for one satisfiable range, "unsatisfiable", or None to ignore it."""
        unit, _, spec = value.partition("=")
        if unit.strip() != "bytes" or "," in spec:
            return None
        first, dash, last = spec.strip().partition("-")
        if not dash:
            return None
        try:
            if first == "":
                n = int(last)
                if n <= 0:
                    return "unsatisfiable"
                return (max(0, size - n), size - 1) if size else "unsatisfiable"
            start = int(first)
            end = int(last) if last else size - 1
        except ValueError:
            return None
        if start >= size:
            return "unsatisfiable"
        if start < 0 or end < start:
            return None
        return start, min(end, size - 1)

    def reset_connection(self):
        """Close the socket abruptly (RST), as a crashing server or a broken link would."""
        self.close_connection = True
        try:
            self.wfile.flush()
        except OSError:
            pass
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):
            return
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("directory")
    p.add_argument("--bind", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--log")
    p.add_argument("--die-after", action="append", default=[], type=suffix_option("BYTES"),
                   metavar="PATH_SUFFIX:BYTES")
    p.add_argument("--status", action="append", default=[], type=suffix_option("CODE"),
                   metavar="PATH_SUFFIX:CODE")
    p.add_argument("--slow", action="append", default=[], type=suffix_option("BYTES_PER_SEC"),
                   metavar="PATH_SUFFIX:BYTES_PER_SEC")
    opts = p.parse_args()
    for _, code in opts.status:
        if not 100 <= code <= 599:
            p.error(f"--status: {code} is not an HTTP status code")
    if not os.path.isdir(opts.directory):
        p.error(f"{opts.directory}: not a directory")

    Handler.root = os.path.realpath(opts.directory)
    Handler.opts = opts
    if opts.log:
        Handler.log_file = open(opts.log, "a", encoding="utf-8")

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    server = Server((opts.bind, opts.port), Handler)
    port = server.server_address[1]
    if opts.port_file:
        tmp = f"{opts.port_file}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(f"{port}\n")
        os.rename(tmp, opts.port_file)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if Handler.log_file:
            Handler.log_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
