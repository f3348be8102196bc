"""The Direct Line 3.0 channel (Microsoft's Web Chat) end to end, against the
real binary: tokens from the bot's secret, a whole stade order through
activities and polling with watermarks, the customer's own activities echoed
with their clientActivityID, suggested actions for the bot's buttons, a
resend answered once, expired / forged / foreign tokens refused, CORS, and
hostile bodies refused with a JSON error (CHANNELS.md §6).

stade has Direct Line with the default token lifetime; monresultat has it
with one-second tokens (for expiry); assistant has no secret, so no Direct
Line at all.
"""
import base64
import hashlib
import hmac
import json
import re
import threading
import time

import pytest

from server import PalabreServer, raw_http
from test_server_api import OrderService

STADE_SECRET = "stade-dl-secret-0123456789abcdef"
MONRESULTAT_SECRET = "monresultat-dl-secret-0123456789"
DL = "/v3/directline"
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


@pytest.fixture(scope="module")
def orders():
    service = OrderService()
    try:
        yield service
    finally:
        service.close()


def make_server(data_dir, orders):
    env = {
        "PALABRE_STADE_SERVICE_ORDERS_URL": orders.url,
        "PALABRE_STADE_DIRECTLINE_SECRET": STADE_SECRET,
        "PALABRE_MONRESULTAT_DIRECTLINE_SECRET": MONRESULTAT_SECRET,
        "PALABRE_MONRESULTAT_DIRECTLINE_TOKEN_TTL_SECONDS": "1",
    }
    return PalabreServer(data_dir, env=env)


@pytest.fixture(scope="module")
def srv(tmp_path_factory, orders):
    s = make_server(tmp_path_factory.mktemp("directline") / "data", orders)
    s.start()
    try:
        yield s
    finally:
        assert s.stop() == 0


def call(srv, method, path, credential=None, body=None, headers=None):
    h = {}
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
    if body is not None:
        h["Content-Type"] = "application/json"
    if credential:
        h["Authorization"] = f"Bearer {credential}"
    h.update(headers or {})
    return srv.request(method, DL + path, body, h)


def generate(srv, secret=STADE_SECRET, user=None):
    r = call(srv, "POST", "/tokens/generate", secret, {"user": {"id": user}} if user else None)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def post_text(srv, token, conversation, text, client_id=None, user="r_user"):
    activity = {"type": "message", "text": text, "from": {"id": user, "role": "user"},
                "locale": "en-US"}
    if client_id:
        activity["channelData"] = {"clientActivityID": client_id}
    return call(srv, "POST", f"/conversations/{conversation}/activities", token, activity)


def poll(srv, token, conversation, watermark=None):
    path = f"/conversations/{conversation}/activities"
    if watermark is not None:
        path += f"?watermark={watermark}"
    r = call(srv, "GET", path, token)
    assert r.status == 200, (r.status, r.body)
    return r.json()


def assert_error(r, status, code=None):
    assert r.status == status, (r.status, r.body)
    assert r.headers["Content-Type"].startswith("application/json")
    err = r.json()["error"]
    assert err["message"]
    if code:
        assert err["code"] == code, err
    assert r.headers["Access-Control-Allow-Origin"], "errors carry CORS too"


def say(srv, token, conversation, watermark, text, client_id):
    """Posts text, then polls: (the new activities, the new watermark)."""
    r = post_text(srv, token, conversation, text, client_id)
    assert r.status == 200, (r.status, r.body)
    got = poll(srv, token, conversation, watermark)
    mine = got["activities"][0]
    assert mine["id"] == r.json()["id"]
    assert mine["from"]["role"] == "user" and mine["text"] == text
    assert mine["channelData"]["clientActivityID"] == client_id
    return got["activities"], got["watermark"]


def actions(activity):
    return [(a["type"], a["title"], a["value"])
            for a in activity.get("suggestedActions", {}).get("actions", [])]


# -- a whole order ---------------------------------------------------------------

def test_stade_order_through_direct_line(srv, orders):
    t = generate(srv, user="dl_fan-42")
    assert t["expires_in"] == 1800 and set(t) == {"conversationId", "token", "expires_in"}
    conv, token = t["conversationId"], t["token"]
    assert len(conv) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", conv)

    # Web Chat starts the conversation with its token: the same conversation
    r = call(srv, "POST", "/conversations", token, {"user": {}, "locale": "en-US"})
    assert r.status == 201, r.body
    started = r.json()
    assert started["conversationId"] == conv and started["streamUrl"] is None
    assert started["expires_in"] == 1800
    token = started["token"]

    empty = poll(srv, token, conv, "")
    assert empty == {"activities": [], "watermark": "0"}

    acts, mark = say(srv, token, conv, "0", "Hi! Can I get a beer?", "cid-1")
    me, bot = acts
    assert me["from"]["id"] == "dl_fan-42", "the user of the token"
    assert me["conversation"]["id"] == conv and me["type"] == "message"
    assert re.fullmatch(re.escape(conv) + r"\|\d{10}", me["id"])
    assert ISO.match(me["timestamp"]) and ISO.match(bot["timestamp"])
    assert bot["from"] == {"id": "stade", "name": "stade", "role": "bot"}
    assert bot["text"] == "How many beers? (1 to 4)"
    assert bot["replyToId"] == me["id"]
    assert actions(bot) == [("imBack", n, n) for n in ("1", "2", "3", "4")]
    assert mark == bot["id"].split("|")[1].lstrip("0")
    assert poll(srv, token, conv, mark) == {"activities": [], "watermark": mark}

    # the buttons: clicking posts the action's value
    acts, mark = say(srv, token, conv, mark, actions(bot)[1][2], "cid-2")
    assert acts[1]["text"] == "Which one: Bud, Coors or Corona?"
    assert actions(acts[1]) == [("imBack", b, b) for b in ("Bud", "Coors", "Corona")]
    acts, mark = say(srv, token, conv, mark, "Coors", "cid-3")
    assert acts[1]["text"] == "2 × Coors. How do you pay?"
    assert [a[2] for a in actions(acts[1])] == ["Saved card **** 0345", "New card"]
    acts, mark = say(srv, token, conv, mark, "Saved card **** 0345", "cid-4")
    [done] = acts[1:]
    assert re.fullmatch(r"Done: 2 × Coors, paid with card \*\*\*\* 0345\. Order #\d+, "
                        r"delivered to your seat\.", done["text"]), done["text"]
    assert "suggestedActions" not in done
    assert orders.snapshot()[-1]["beer"] == "Coors"

    # the whole conversation from the start: in order, each once
    everything = poll(srv, token, conv)["activities"]
    assert len(everything) == 8
    assert [a["from"]["role"] for a in everything] == ["user", "bot"] * 4
    assert len({a["id"] for a in everything}) == 8

    # one Direct Line conversation is one palabre customer on channel directline
    assert srv.count("SELECT count(*) FROM identities WHERE channel = 'directline' "
                     "AND external_id = ?", conv) == 1


def test_secret_starts_a_conversation_and_reconnect(srv):
    r = call(srv, "POST", "/conversations", STADE_SECRET)
    assert r.status == 201, r.body
    started = r.json()
    conv, token = started["conversationId"], started["token"]
    assert started["streamUrl"] is None
    assert conv != generate(srv)["conversationId"], "each start is a new conversation"
    # reconnect (GET) with the token: the same conversation, a token that works
    r = call(srv, "GET", f"/conversations/{conv}?watermark=", token)
    assert r.status == 200, r.body
    again = r.json()
    assert again["conversationId"] == conv
    assert poll(srv, again["token"], conv)["activities"] == []
    # the secret reads any conversation of its bot
    assert poll(srv, STADE_SECRET, conv)["watermark"] == "0"


def test_refresh(srv):
    t = generate(srv, user="dl_refresh")
    r = call(srv, "POST", "/tokens/refresh", t["token"])
    assert r.status == 200, r.body
    fresh = r.json()
    assert fresh["conversationId"] == t["conversationId"] and fresh["expires_in"] == 1800
    r = post_text(srv, fresh["token"], t["conversationId"], "what beers do you have", "rf-1")
    assert r.status == 200
    assert poll(srv, fresh["token"], t["conversationId"])["activities"][0]["from"]["id"] == \
        "dl_refresh"
    assert_error(call(srv, "POST", "/tokens/refresh", STADE_SECRET), 403)
    assert_error(call(srv, "POST", "/tokens/generate", t["token"]), 403)


# -- retries ---------------------------------------------------------------------

def test_resend_with_the_same_client_activity_id_is_answered_once(srv, orders):
    t = generate(srv)
    conv, token = t["conversationId"], t["token"]
    first = post_text(srv, token, conv, "3 coors please", "same-id")
    assert first.status == 200
    second = post_text(srv, token, conv, "3 coors please", "same-id")
    assert second.status == 200 and second.json()["id"] == first.json()["id"]
    acts = poll(srv, token, conv)["activities"]
    assert [a["from"]["role"] for a in acts] == ["user", "bot"], acts
    assert acts[1]["text"] == "3 × Coors. How do you pay?"
    # the same clientActivityID in another conversation is another message
    other = generate(srv)
    r = post_text(srv, other["token"], other["conversationId"], "3 coors please", "same-id")
    assert r.status == 200 and r.json()["id"] != first.json()["id"]
    assert len(poll(srv, other["token"], other["conversationId"])["activities"]) == 2
    # without a clientActivityID, two posts are two messages
    post_text(srv, token, conv, "hello")
    post_text(srv, token, conv, "hello")
    ins = [a for a in poll(srv, token, conv)["activities"] if a["from"]["role"] == "user"]
    assert len(ins) == 3 and "channelData" not in ins[-1]


def test_simultaneous_resends_are_one_message(srv):
    """A client that gave up waiting resends while the first copy is in flight."""
    t = generate(srv)
    conv, token = t["conversationId"], t["token"]
    answers = []
    lock = threading.Lock()

    def send():
        r = post_text(srv, token, conv, "2 Corona", "burst-1")
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=send) for _ in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    assert [r.status for r in answers] == [200] * 5, [(r.status, r.body) for r in answers]
    assert len({r.json()["id"] for r in answers}) == 1
    acts = poll(srv, token, conv)["activities"]
    assert [(a["from"]["role"], a["text"]) for a in acts] == [
        ("user", "2 Corona"), ("bot", "2 × Corona. How do you pay?")], acts


def test_typing_and_events_are_acknowledged_not_stored(srv):
    t = generate(srv)
    conv, token = t["conversationId"], t["token"]
    for activity in ({"type": "typing", "from": {"id": "u"}},
                     {"type": "event", "name": "webchat/join", "value": {}}):
        r = call(srv, "POST", f"/conversations/{conv}/activities", token, activity)
        assert r.status == 200 and r.json()["id"].startswith(conv + "|")
    assert poll(srv, token, conv) == {"activities": [], "watermark": "0"}


# -- who may call ------------------------------------------------------------------

def test_expired_token(srv):
    t = generate(srv, secret=MONRESULTAT_SECRET)
    assert t["expires_in"] == 1
    time.sleep(2.1)
    conv, token = t["conversationId"], t["token"]
    assert_error(call(srv, "GET", f"/conversations/{conv}/activities", token), 403,
                 "TokenExpired")
    assert_error(post_text(srv, token, conv, "hello", "x"), 403, "TokenExpired")
    assert_error(call(srv, "POST", "/tokens/refresh", token), 403, "TokenExpired")
    assert_error(call(srv, "POST", "/conversations", token), 403, "TokenExpired")


def test_bad_credentials(srv):
    t = generate(srv)
    conv, token = t["conversationId"], t["token"]
    assert_error(call(srv, "POST", "/tokens/generate", "wrong-secret"), 403)
    assert_error(call(srv, "POST", "/tokens/generate", STADE_SECRET + "x"), 403)
    assert_error(call(srv, "POST", "/tokens/generate"), 401)
    tampered = token[:-10] + ("A" if token[-10] != "A" else "B") + token[-9:]
    assert_error(call(srv, "GET", f"/conversations/{conv}/activities", tampered), 403)
    assert_error(call(srv, "GET", f"/conversations/{conv}/activities", "x.y"), 403)
    # another conversation's token
    other = generate(srv)
    assert_error(call(srv, "GET", f"/conversations/{conv}/activities", other["token"]), 403)
    assert_error(post_text(srv, other["token"], conv, "hi", "o-1"), 403)
    assert_error(call(srv, "GET", f"/conversations/{conv}", other["token"]), 403)
    # another bot's token for a conversation it was not given
    mr = generate(srv, secret=MONRESULTAT_SECRET)
    assert_error(call(srv, "GET", f"/conversations/{conv}/activities", mr["token"]), 403)


def test_bot_without_secret_has_no_direct_line(srv):
    """assistant has no secret: a token claiming it, signed with an empty key
    (or anything else), is refused."""
    conv = generate(srv)["conversationId"]
    payload = json.dumps({"b": "assistant", "c": conv, "e": int(time.time()) + 600},
                         separators=(",", ":")).encode()

    def b64(raw):
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    for key in (b"", STADE_SECRET.encode()):
        forged = b64(payload) + "." + b64(hmac.new(key, payload, hashlib.sha256).digest())
        assert_error(call(srv, "GET", f"/conversations/{conv}/activities", forged), 403)
        assert_error(call(srv, "POST", "/conversations", forged), 403)


# -- CORS -----------------------------------------------------------------------------

def test_cors_preflight_and_headers(srv):
    origin = "http://127.0.0.1:9999"
    for path in ("/conversations", "/tokens/generate", "/conversations/x/activities",
                 "/nowhere"):
        r = srv.request("OPTIONS", DL + path, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-ms-bot-agent"})
        assert r.status == 204, (path, r.status, r.body)
        assert r.headers["Access-Control-Allow-Origin"] == origin
        assert set(m.strip() for m in r.headers["Access-Control-Allow-Methods"].split(",")) >= \
            {"GET", "POST", "OPTIONS"}
        allowed = {h.strip().lower() for h in r.headers["Access-Control-Allow-Headers"].split(",")}
        assert allowed >= {"authorization", "content-type", "x-ms-bot-agent", "x-requested-with"}
        assert int(r.headers["Access-Control-Max-Age"]) > 0
    r = srv.request("OPTIONS", DL + "/conversations")
    assert r.status == 204 and r.headers["Access-Control-Allow-Origin"] == "*"
    # answers carry it too, with the caller's origin
    r = call(srv, "POST", "/tokens/generate", STADE_SECRET, headers={"Origin": origin})
    assert r.status == 200 and r.headers["Access-Control-Allow-Origin"] == origin
    r = call(srv, "POST", "/tokens/generate", "nope", headers={"Origin": origin})
    assert r.status == 403 and r.headers["Access-Control-Allow-Origin"] == origin
    # refused before the routes run (a body over max_body_bytes): still readable by the page
    t = generate(srv)

    def too_large(path, extra=""):
        return raw_http(srv.port, (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: {origin}\r\n{extra}"
            "Content-Type: application/json\r\nContent-Length: 10485760\r\n\r\n").encode(),
            method="POST", send_after=b"x" * 4096)
    r = too_large(DL + "/conversations/" + t["conversationId"] + "/activities",
                  f"Authorization: Bearer {t['token']}\r\n")
    assert r.status == 413 and r.headers["Access-Control-Allow-Origin"] == origin
    # other addresses do not get it
    r = too_large("/api/v1/bots/stade/messages")
    assert r.status == 413 and "Access-Control-Allow-Origin" not in r.headers


# -- routes and hostile bodies ---------------------------------------------------------

def test_unknown_routes_and_methods(srv):
    assert_error(call(srv, "GET", "/nowhere", STADE_SECRET), 404)
    assert_error(call(srv, "GET", "", STADE_SECRET), 404)
    assert_error(call(srv, "GET", "/conversations/a/b/c", STADE_SECRET), 404)
    assert_error(call(srv, "GET", "/conversations/not-an-id/activities", STADE_SECRET), 404)
    r = call(srv, "GET", "/tokens/generate", STADE_SECRET)
    assert_error(r, 405)
    assert "POST" in r.headers["Allow"]
    r = call(srv, "DELETE", "/conversations/x/activities", STADE_SECRET)
    assert_error(r, 405)
    assert {"GET", "POST"} <= {m.strip() for m in r.headers["Allow"].split(",")}
    assert srv.get("/v3/directlinex").status == 404  # not ours: a static page that is not there


def test_hostile_bodies_refused_with_json_errors(srv):
    t = generate(srv)
    conv, token = t["conversationId"], t["token"]
    path = f"/conversations/{conv}/activities"
    cases = [
        (b"{not json", 400),
        (b'{"type":"message","text":"\xff\xfe"}', 400),
        (b'{"type":"message","text":"a","text":"b"}', 400),
        (b'{"type":"message"}', 400),
        (b'{"type":"message","text":""}', 400),
        (b'{"text":"no type"}', 400),
        (b'{"type":"message","text":"hi","channelData":{"clientActivityID":7}}', 400),
        (b"[]", 400),
        (json.dumps({"type": "message", "text": "x" * 4097}).encode(), 413),
    ]
    for body, status in cases:
        assert_error(call(srv, "POST", path, token, body), status)
    r = srv.request("POST", DL + path, b'{"type":"message","text":"hi"}',
                    {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"})
    assert_error(r, 415)
    assert_error(call(srv, "POST", "/tokens/generate", STADE_SECRET, b"{nope"), 400)
    assert_error(call(srv, "POST", "/tokens/generate", STADE_SECRET, {"user": {"id": 5}}), 400)
    assert_error(call(srv, "GET", path + "?watermark=abc", token), 400)
    assert_error(call(srv, "GET", path + "?watermark=-1", token), 400)
    # nothing of that was stored
    assert poll(srv, token, conv) == {"activities": [], "watermark": "0"}
    # a message of exactly max_message_bytes is taken
    r = post_text(srv, token, conv, "é" * 2048, "long-1")
    assert r.status == 200, r.body


def test_tokens_survive_a_restart(tmp_path, orders):
    s = make_server(tmp_path / "data", orders)
    s.start()
    try:
        t = generate(s)
        assert post_text(s, t["token"], t["conversationId"], "3 coors please", "r-1").status == 200
        assert s.stop() == 0
        s.start()
        acts = poll(s, t["token"], t["conversationId"])["activities"]
        assert [a["text"] for a in acts] == ["3 coors please", "3 × Coors. How do you pay?"]
    finally:
        s.stop()
