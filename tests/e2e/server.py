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
                                     stderr=self.logfile)
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
