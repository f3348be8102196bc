"""The stadium seed story (SPEC §2, case 2) in `palabre chat`, French and
English, against the brand's order service (scripts/demo-orders-service, a
real HTTP server on loopback): how many, which, saved card, confirmation."""
import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture()
def orders_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "demo-orders-service"),
                             str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert b"listening" in proc.stdout.readline()
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}/orders"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def chat(palabre_bin, url, lines):
    env = dict(os.environ, PALABRE_STADE_SERVICE_ORDERS_URL=url)
    proc = subprocess.run([palabre_bin, "chat", str(ROOT / "bots" / "stade")],
                          input="\n".join(lines) + "\n", capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture()
def palabre_bin():
    return os.environ.get("PALABRE_BIN", str(ROOT / "build" / "palabre"))


def test_order_in_french(palabre_bin, orders_url):
    out = chat(palabre_bin, orders_url,
               ["Je voudrais commander des bières", "deux", "coronas", "Carte enregistrée"])
    assert "Combien" in out
    assert re.search(r"[Cc]ommande n° ?\d+", out), out
    assert "Corona" in out


def test_order_in_english_with_a_correction(palabre_bin, orders_url):
    out = chat(palabre_bin, orders_url,
               ["can I get a beer", "two", "no, 3", "coors light?", "saved card"])
    assert "How many" in out
    assert re.search(r"#\s?\d+", out), out
    assert "3" in out and "Coors" in out
