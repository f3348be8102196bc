"""palabre chat and palabre test, against the real binary and the small shop bot of
tests/data/bots/shop: a conversation over stdin, the --debug line, choosing a quick reply
by its number, refused input, the conversation tests passing and failing with a readable
diff, malformed test files, and service calls over real HTTP (libcurl) to a local server,
with a timeout, an error status, an oversized answer and a redirect."""
import http.server
import json
import os
import pathlib
import re
import shutil
import subprocess
import threading
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHOP = ROOT / "tests" / "data" / "bots" / "shop"
DEBUG_LINE = re.compile(r"^# lang=(fr|en) intent=(\S+) \((\d\.\d\d)\) entities: (.+) \| "
                        r"flow=(\S+)(?: step=bot\.yaml:(\d+))?$")


def binary():
    path = pathlib.Path(os.environ.get("PALABRE_BIN", ROOT / "build" / "palabre"))
    if not path.exists():
        pytest.fail(f"{path} not built: run make")
    return path


def run(*args, stdin=b"", env=None, timeout=60):
    """Runs palabre with bytes on stdin; returns (rc, stdout, stderr) as text."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run([str(binary()), *map(str, args)], input=stdin, capture_output=True,
                          env=full_env, timeout=timeout)
    return (proc.returncode, proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"))


def chat(*lines, args=(), env=None, bot=SHOP):
    stdin = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\n" for l in lines)
    return run("chat", bot, *args, stdin=stdin, env=env)


@pytest.fixture
def shop_copy(tmp_path):
    """A copy of the shop bot that a test may change."""
    dest = tmp_path / "shop"
    shutil.copytree(SHOP, dest)
    return dest


# ---- a brand's order service, for real ------------------------------------------------------

class OrderService(http.server.BaseHTTPRequestHandler):
    received = []  # (path, content type, body) of each request

    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up first: that is the point of some tests

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        OrderService.received.append((self.path, self.headers.get("Content-Type"), body))
        if self.path == "/orders":
            self.answer(200, json.dumps({"id": 31337, "status": "accepted"}).encode())
        elif self.path == "/slow":
            time.sleep(3)
            self.answer(200, b'{"id": 1}')
        elif self.path == "/broken":
            self.answer(500, b'{"error": "database down"}')
        elif self.path == "/big":
            self.answer(200, b'{"id": 2, "pad": "' + b"x" * (2 << 20) + b'"}')
        elif self.path == "/moved":
            self.answer(302, b"{}", headers=[("Location", "/orders")])
        else:
            self.answer(404, b"{}")


@pytest.fixture(scope="module")
def service():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), OrderService)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def service_env(url):
    return {"PALABRE_SHOP_SERVICE_ORDERS_URL": url}


# ---- palabre chat ---------------------------------------------------------------------------

def test_chat_scripted_conversation_in_french():
    rc, out, err = chat("où en est ma commande ?", "c'est la 1002", "vous fermez à quelle heure ?")
    assert rc == 0, err
    assert out.splitlines() == [
        "Quel est le numéro de commande ? (4 chiffres, ex. 1001)",
        "Commande 1002 : expédiée (livraison prévue le 2026-11-28).",
        "La boutique est ouverte du lundi au samedi, de 10 h à 19 h.",
    ]
    assert "> " not in out  # no prompt when stdin is not a terminal


def test_chat_debug_line_before_the_replies():
    rc, out, err = chat("I want to buy two mugs", "/quit", "never read", args=["--debug"])
    assert rc == 0, err
    lines = out.splitlines()
    m = DEBUG_LINE.match(lines[0])
    assert m, lines[0]
    lang, intent, confidence, entities, flow, step = m.groups()
    assert (lang, intent, flow) == ("en", "buy", "buy")
    assert float(confidence) >= 0.45
    assert set(entities.split()) == {"quantity=2", "product=mug"}
    # the step the bot waits on: the `ask: delivery` line of bot.yaml
    bot_lines = (SHOP / "bot.yaml").read_text().splitlines()
    assert bot_lines[int(step) - 1].strip() == "- ask: delivery"
    assert lines[1:] == ["Home delivery or pick-up in store?",
                         "  [1] Delivery  [2] Store pick-up"]
    assert "never read" not in out


def test_chat_debug_line_when_not_understood():
    rc, out, _ = chat("blorp", args=["--debug", "--lang", "en"])
    m = DEBUG_LINE.match(out.splitlines()[0])
    assert m and m.group(2) == "none" and m.group(4) == "-" and m.group(5) == "-"


def test_chat_quick_reply_chosen_by_number(service):
    OrderService.received.clear()
    rc, out, err = chat("je voudrais acheter des t-shirts", "3", "2", args=["--debug"],
                        env=service_env(service + "/orders"))
    assert rc == 0, err
    lines = out.splitlines()
    # "3" is a button's own text (quantity buttons 1, 2, 3): sent as is
    assert "# quick reply" not in lines[3]
    assert "  [1] Livraison  [2] Retrait en boutique" in lines
    assert "# quick reply 2: Retrait en boutique" in lines
    assert lines[-1] == "Merci ! Commande n° 31337 : 3 × tshirt."
    # the brand's service got the order as JSON
    path, content_type, body = OrderService.received[-1]
    assert path == "/orders" and content_type == "application/json"
    assert json.loads(body) == {"product": "tshirt", "quantity": "3", "delivery": "store"}


def test_chat_invalid_utf8_line_is_refused_and_conversation_goes_on():
    rc, out, err = chat("where is my order", b"\xff\xfe caf\xe9", "1003")
    assert rc == 0
    assert "line 2" in err and "UTF-8" in err
    assert out.splitlines() == [
        "What is the order number? (4 digits, e.g. 1001)",
        "Order 1003: delivered (delivery expected on 2026-11-20).",
    ]


def test_chat_handoff_and_silence_after_it():
    rc, out, _ = chat("the mug arrived broken", "hello?")
    assert rc == 0
    assert out.splitlines() == [
        "I'm sorry. An agent will take over the conversation.",
        "— a person takes over (complaint) —",
        "— a person is handling this conversation: the bot stays silent —",
    ]


def test_chat_usage_errors(tmp_path):
    assert run("chat")[0] == 2
    assert run("chat", SHOP, "--lang", "de")[0] == 2
    assert run("chat", SHOP, SHOP)[0] == 2
    assert "--debug" in run("chat", "--help")[1]
    rc, _, err = run("chat", tmp_path / "nothing-here")
    assert rc == 1 and "bot.yaml" in err


# ---- palabre test ---------------------------------------------------------------------------

def test_shop_tests_pass():
    rc, out, err = run("test", SHOP)
    lines = out.splitlines()
    assert rc == 0, out + err
    files = sorted(p.name for p in (SHOP / "tests").glob("*.yaml"))
    assert len(files) >= 6
    assert [l.split()[1] for l in lines[:-1]] == [f"shop/{f}" for f in files]
    assert all(l.startswith("ok   shop/") for l in lines[:-1])
    assert "ok   shop/buy-fr.yaml  acheter deux mugs, retrait en boutique" in lines
    assert lines[-1] == f"{len(files)} passed, 0 failed"


def test_verbose_shows_every_step():
    rc, out, _ = run("test", SHOP, "--verbose")
    assert rc == 0
    assert 'the customer says: "je voudrais acheter des mugs"' in out
    assert any(DEBUG_LINE.match(l.strip()) for l in out.splitlines())


def test_failing_test_shows_a_readable_diff(shop_copy):
    (shop_copy / "tests" / "zz-wrong.yaml").write_text(
        "name: a deliberately wrong test\n"
        "lang: fr\n"
        "steps:\n"
        "  - user: je voudrais acheter des mugs\n"
        "    bot: \"Combien ? (1 à 5)\"\n"
        "  - user: deux\n"
        "    bot: {contains: \"Combien de tasses\"}\n"
        "    slots: {quantity: \"3\"}\n"
        "  - user: never reached\n")
    rc, out, _ = run("test", shop_copy)
    assert rc == 1
    lines = out.splitlines()
    assert lines[-1].endswith(" passed, 1 failed")
    start = lines.index("FAIL shop/zz-wrong.yaml  a deliberately wrong test")
    diff = "\n".join(lines[start:])
    assert "step 2 of 3" in diff and "zz-wrong.yaml:6" in diff
    assert 'the customer says: "deux"' in diff
    assert 'expected bot: contains "Combien de tasses"' in diff
    assert 'got      bot: "Livraison à domicile ou retrait en boutique ?"' in diff
    assert 'expected slot quantity: "3"' in diff and 'got      slot quantity: "2"' in diff
    assert "[1] Livraison  [2] Retrait en boutique" in diff
    assert re.search(r"# lang=fr intent=\S+ \(\d\.\d\d\) entities: quantity=2 \| flow=buy "
                     r"step=bot\.yaml:\d+", diff)
    assert "never reached" not in diff


def test_malformed_test_file_names_file_line_column(shop_copy):
    bad = shop_copy / "tests" / "bad.yaml"
    bad.write_text("name: typo in a key\nsteps:\n  - user: bonjour\n    bots: hello\n")
    rc, out, _ = run("test", shop_copy)
    assert rc == 1
    assert "FAIL shop/bad.yaml" in out
    assert f"{bad}:4:5: unknown key 'bots'" in out
    bad.write_text("steps:\n  - user: \"unclosed\n")
    rc, out, _ = run("test", shop_copy)
    assert rc == 1 and re.search(re.escape(str(bad)) + r":\d+:\d+: invalid YAML", out)
    bad.write_text("steps:\n  - user: hi\n    slots: {colour: red}\n")
    rc, out, _ = run("test", shop_copy)
    assert f"{bad}:3:13: bot shop has no slot 'colour'" in out


def test_bot_that_does_not_load_counts_as_failed(shop_copy):
    (shop_copy / "bot.yaml").write_text("bot: shop\n")
    rc, out, _ = run("test", shop_copy, SHOP)
    assert rc == 1
    assert "FAIL shop/bot.yaml" in out
    assert out.splitlines()[-1].endswith("passed, 1 failed")


def test_usage_errors():
    assert run("test")[0] == 2
    assert run("test", SHOP, "--frobnicate")[0] == 2


# ---- service calls over real HTTP -----------------------------------------------------------

def write_unmocked_test(bot, name="zz-real.yaml", expect="Merci ! Commande n° 31337 : 2 × mug."):
    """A test file without services: the call goes over the network."""
    (bot / "tests" / name).write_text(
        "name: the order service answers over HTTP\n"
        "lang: fr\n"
        "steps:\n"
        "  - user: deux mugs svp\n"
        "  - user: livraison\n"
        f"    bot: \"{expect}\"\n")


def test_unmocked_service_called_over_http(shop_copy, service):
    write_unmocked_test(shop_copy)
    OrderService.received.clear()
    rc, out, _ = run("test", shop_copy, env=service_env(service + "/orders"))
    assert rc == 0, out
    assert "ok   shop/zz-real.yaml" in out
    assert [r[0] for r in OrderService.received] == ["/orders"]


def test_mocked_service_never_reaches_the_network(service):
    OrderService.received.clear()
    rc, out, _ = run("test", SHOP, env=service_env(service + "/orders"))
    assert rc == 0, out
    assert OrderService.received == []


def test_service_timeout_is_honoured(shop_copy, service):
    text = (shop_copy / "bot.yaml").read_text()
    (shop_copy / "bot.yaml").write_text(text.replace("timeout_ms: 2000", "timeout_ms: 300"))
    write_unmocked_test(shop_copy, expect="Le service de commande ne répond pas, réessayez dans "
                                          "un moment.")
    started = time.monotonic()
    rc, out, _ = run("test", shop_copy, env=service_env(service + "/slow"))
    elapsed = time.monotonic() - started
    assert rc == 0, out
    assert elapsed < 2.5, f"the call took {elapsed:.1f}s: the 300 ms timeout was not honoured"


@pytest.mark.parametrize("path", ["/broken", "/big", "/moved", "/nowhere"])
def test_service_failures_make_the_bot_say_so(service, path):
    OrderService.received.clear()
    rc, out, err = chat("two mugs please", "1", args=["--debug"],
                        env=service_env(service + path))
    assert rc == 0
    assert out.splitlines()[-1] == ("The order service is not answering, please try again "
                                    "in a moment.")
    assert '"module":"http"' in err  # logged once, at the module boundary
    # a redirect is not followed
    assert [r[0] for r in OrderService.received] == [path]


def test_service_url_override_must_be_http(shop_copy):
    rc, _, err = chat("hello", env=service_env("file:///etc/passwd"))
    assert rc == 1 and "PALABRE_SHOP_SERVICE_ORDERS_URL" in err
