"""Run the real `palabre serve` for end-to-end tests.

PalabreServer starts the binary on a free port of 127.0.0.1 with its own data
directory, waits for /readyz, and offers small HTTP helpers (urllib only) and
a read-only view of the store (the SQLite file) for counting. stop() sends
SIGTERM and waits; kill() sends SIGKILL (a crash); start() again on the same
data directory restarts it.
"""
import json
import os
import pathlib
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = pathlib.Path(os.environ.get("PALABRE_BIN", ROOT / "build" / "palabre"))
BOTS = [ROOT / "bots" / name for name in ("stade", "monresultat", "assistant")]
TOKEN = "e2e-token-0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


class PalabreServer:
    def __init__(self, data_dir, bots=None, settings=None, env=None, port=None):
        self.data_dir = pathlib.Path(data_dir)
        self.bots = bots or BOTS
        self.settings = settings or {}
        self.env = env or {}
        self.port = port or free_port()
        self.proc = None
        self.log = self.data_dir.parent / f"palabre-{self.port}.log"
        self.preexec = None  # run in the child before exec (resource limits)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        args = [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}",
                "--data", str(self.data_dir)]
        for name, value in self.settings.items():
            args += ["--set", f"{name}={value}"]
        args += [str(b) for b in self.bots]
        env = dict(os.environ, PALABRE_API_TOKEN=TOKEN, **self.env)
        self.logfile = open(self.log, "ab")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self.logfile,
                                     stderr=self.logfile, preexec_fn=self.preexec)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"palabre serve exited {self.proc.returncode}: "
                                   + self.log.read_text(errors="replace")[-2000:])
            try:
                if self.get("/readyz").status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("palabre serve did not become ready")

    def stop(self, timeout=30):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=timeout)
        rc = self.proc.returncode if self.proc else None
        self.proc = None
        return rc

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    # -- HTTP ---------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=30):
        data = body
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.headers, r.read())
        except urllib.error.HTTPError as e:
            return Response(e.code, e.headers, e.read())

    def get(self, path, headers=None, timeout=30):
        return self.request("GET", path, headers=headers, timeout=timeout)

    def api(self, method, path, body=None, token=TOKEN, headers=None, timeout=30):
        h = {"Content-Type": "application/json"}
        if token:
            h["Authorization"] = f"Bearer {token}"
        h.update(headers or {})
        return self.request(method, path, body, h, timeout)

    def say(self, bot, customer, text, msg_id=None, wait=True, lang=None):
        body = {"customer": customer, "text": text}
        if msg_id is not None:
            body["id"] = msg_id
        if lang:
            body["lang"] = lang
        path = f"/api/v1/bots/{bot}/messages" + ("" if wait else "?wait=false")
        return self.api("POST", path, body)

    # -- the store, read-only -------------------------------------------------
    def db(self):
        uri = f"file:{self.data_dir / 'palabre.db'}?mode=ro"
        return sqlite3.connect(uri, uri=True, timeout=10)

    def count(self, sql, *params):
        with self.db() as c:
            return c.execute(sql, params).fetchone()[0]


# -- reliability helpers (tests/e2e/test_server_reliability.py) ---------------
# Added below the original helpers; nothing above is changed.
import http.client  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer  # noqa: E402


class CallbackSink:
    """A bot's api callback receiver (channels/api.h) on 127.0.0.1.

    Records every POST as a dict {"key": Idempotency-Key, "body": parsed JSON
    (or None), "raw": bytes, "at": time.monotonic(), "status": the status
    answered}. `responder(sink, record)` (optional) returns the status to
    answer, or (status, {header: value}); by default 200. The port stays the
    same across stop()/start(), so a sink can be down for a while (connection
    refused) and come back.
    """

    def __init__(self, port=None, responder=None, path="/cb"):
        self.port = port or free_port()
        self.path = path
        self.responder = responder
        self.posts = []
        self.lock = threading.Lock()
        self.httpd = None
        self.thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{self.path}"

    def start(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, like a real receiver
            # headers and body go out in two writes: without TCP_NODELAY,
            # Nagle and delayed ACKs would stall every answer by 40 ms
            disable_nagle_algorithm = True

            def do_POST(self):  # noqa: N802 (http.server's naming)
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                record = {"key": self.headers.get("Idempotency-Key"), "body": body, "raw": raw,
                          "at": time.monotonic(), "path": self.path,
                          "content_type": self.headers.get("Content-Type")}
                status, headers = 200, {}
                if sink.responder:
                    answer = sink.responder(sink, record)
                    status, headers = answer if isinstance(answer, tuple) else (answer, {})
                record["status"] = status
                with sink.lock:
                    sink.posts.append(record)
                out = b"{}"
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            def log_message(self, fmt, *args):
                pass

        class Server(ThreadingHTTPServer):
            allow_reuse_address = True

            def handle_error(self, request, client_address):
                # palabre killed in the middle of a POST: expected, not news
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", self.port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        if self.httpd:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join(10)
        self.httpd = None

    def snapshot(self):
        with self.lock:
            return list(self.posts)

    def wait_for(self, predicate, timeout=20, interval=0.05):
        """Waits until predicate(list of posts) is true; returns the posts."""
        deadline = time.monotonic() + timeout
        while True:
            posts = self.snapshot()
            if predicate(posts) or time.monotonic() > deadline:
                return posts
            time.sleep(interval)


class ApiConnection:
    """One keep-alive HTTP/1.1 connection to the api channel (http.client).

    post() raises OSError / http.client.HTTPException when the server is
    gone: the caller decides whether the message was acknowledged."""

    def __init__(self, port, token=TOKEN, timeout=30):
        self.port = port
        self.token = token
        self.timeout = timeout
        self.conn = None

    def _connect(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        return self.conn

    def post(self, bot, customer, text, msg_id=None, wait=True):
        body = {"customer": customer, "text": text}
        if msg_id is not None:
            body["id"] = msg_id
        path = f"/api/v1/bots/{bot}/messages" + ("" if wait else "?wait=false")
        conn = self._connect()
        try:
            conn.request("POST", path, json.dumps(body).encode(),
                         {"Content-Type": "application/json",
                          "Authorization": f"Bearer {self.token}"})
            r = conn.getresponse()
            data = r.read()
        except Exception:
            self.close()
            raise
        if r.will_close:
            self.close()
        return Response(r.status, r.headers, data)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def wait_store_quiet(server, timeout=60, interval=0.1):
    """Waits until no inbound message is 'received' and the outbox is empty.
    Returns the seconds it took; raises AssertionError on timeout."""
    t0 = time.monotonic()
    while True:
        with server.db() as c:
            received = c.execute("SELECT count(*) FROM messages "
                                 "WHERE direction = 'in' AND status = 'received'").fetchone()[0]
            outbox = c.execute("SELECT count(*) FROM outbox").fetchone()[0]
        if received == 0 and outbox == 0:
            return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"store not quiet after {timeout} s: {received} inbound "
                                 f"received, {outbox} outbox rows")
        time.sleep(interval)


# -- raw HTTP and store snapshots (test_server_api.py, test_server_hostile.py) --

STORE_TABLES = ("customers", "identities", "conversations", "messages", "outbox", "events")


def table_counts(server, tables=STORE_TABLES):
    """Row counts of the store's tables, {table: n}."""
    with server.db() as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def raw_http(port, data, timeout=10, method="GET", send_after=None):
    """Sends the bytes `data` as they are on a new connection to 127.0.0.1:port
    (nothing added: the caller writes the request line and every header) and
    reads one response with http.client (Content-Length or chunked). When
    send_after is given, those bytes are sent after the response was read
    (errors ignored: the server may have closed). Returns a Response, with
    status None when the server closed without answering."""
    import http.client
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass  # refused early: the answer may still be there
        resp = http.client.HTTPResponse(s, method=method)
        try:
            resp.begin()
        except (http.client.RemoteDisconnected, ConnectionResetError):
            return Response(None, {}, b"")
        try:
            body = resp.read()
        except (http.client.IncompleteRead, ConnectionResetError) as e:
            body = getattr(e, "partial", b"")
        if send_after:
            try:
                s.sendall(send_after)
            except OSError:
                pass
        return Response(resp.status, resp.headers, body)
